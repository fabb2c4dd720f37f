//! The pinhole service: the one place where a pinhole request meets the
//! [`PinholeTable`], the kernel and `lease_file6` (the IPv6 counterpart of
//! [`crate::gateway::Gateway`], which owns the firewall handle it borrows).
//!
//! Rules, as for IPv4 mappings:
//!
//! - **table first, then one firewall change** (`PutPinhole` or
//!   `RemovePinhole`); on failure the table change is rolled back. When the
//!   firewall reports its table missing, the table is recreated and both the
//!   mappings and the pinholes are pushed again.
//! - **persistence**: the same journal as the IPv4 lease file
//!   ([`crate::lease::Journal`]): every acknowledged change is appended to
//!   `lease_file6` before returning (the pinhole's new line, or
//!   [`super::format_lease6_removal`]), so it survives `kill -9` at a cost
//!   independent of the number of pinholes; appends are synced within
//!   [`crate::gateway::PERSIST_DELAY`]; expiries only mark the file dirty and
//!   the next flush compacts it (rewritten whole, atomically), as do start-up,
//!   shutdown, a journal grown past its slack, and the removal of the last
//!   pinhole.
//! - **start-up**: `lease_file6` is read (expired and malformed lines
//!   dropped), pinholes in the kernel that the file does not hold are
//!   removed, and the file's pinholes are put back with their remaining
//!   lease.

use std::cell::RefCell;
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::rc::Rc;

use portgate_nft::{Change, Firewall, FirewallError};

use super::{parse_lease6, NewPinhole, PinholeAdded, PinholeError, PinholeRecord, PinholeTable};
use crate::gateway::{firewall_mapping, Gateway};
use crate::table::Protocol;

/// The pinhole service as the run loop shares it between its tasks (one
/// thread, never borrowed across an `.await`, like the gateway).
pub type SharedPinholes = Rc<RefCell<Pinholes>>;

/// A LAN IPv6 prefix the daemon serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lan6 {
    /// The gateway's own address on it.
    pub addr: Ipv6Addr,
    /// Prefix length (0..=128).
    pub prefix: u8,
}

impl Lan6 {
    /// Whether `ip` is inside this prefix.
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        let mask = u128::MAX
            .checked_shl(128 - u32::from(self.prefix.min(128)))
            .unwrap_or(0);
        u128::from(ip) & mask == u128::from(self.addr) & mask
    }
}

/// Policy of the pinhole service (from the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PinholeSettings {
    /// Pinholes allowed at all (`ipv6_disable=no`); otherwise every request
    /// gets [`PinholeServiceError::Disabled`] (UPnP 702 FirewallDisabled).
    pub enabled: bool,
    /// `lease_file6`; `None`: not persisted.
    pub lease_file6: Option<PathBuf>,
    /// LAN prefixes served: internal clients must be inside one.
    pub lan: Vec<Lan6>,
}

/// Why the service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PinholeServiceError {
    /// The table refused (unknown UniqueID, quota, bad client, owner).
    #[error(transparent)]
    Table(#[from] PinholeError),
    /// The kernel refused; the table was rolled back.
    #[error("firewall: {0}")]
    Firewall(#[from] FirewallError),
    /// Pinholes are off (`ipv6_disable=yes`).
    #[error("ipv6 pinholes are disabled")]
    Disabled,
    /// The internal client is outside the LAN prefixes or is the gateway.
    #[error("internal client {0} is not a LAN host")]
    NotLan(Ipv6Addr),
    /// A PCP request with another nonce than the pinhole's
    /// ([`crate::table::check_nonce`]).
    #[error(transparent)]
    Nonce(#[from] crate::table::NonceMismatch),
}

/// What start-up found in `lease_file6`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pinhole6Report {
    /// Pinholes restored.
    pub restored: usize,
    /// Lines skipped as malformed or refused.
    pub skipped: usize,
    /// Lines whose lease had run out.
    pub expired: usize,
    /// Kernel pinholes the file did not hold, removed.
    pub removed: usize,
}

/// `lease_file6` of `settings` as a store.
fn file_store(settings: &PinholeSettings) -> Option<Box<dyn crate::lease::LeaseStore>> {
    settings
        .lease_file6
        .clone()
        .map(|p| Box::new(crate::lease::FileStore(p)) as Box<dyn crate::lease::LeaseStore>)
}

/// The pinhole service. See the module docs.
#[derive(Debug)]
pub struct Pinholes {
    table: PinholeTable,
    settings: PinholeSettings,
    journal: crate::lease::Journal,
    /// Seconds the wall clock is ahead of our `now` (see
    /// [`Gateway::set_wall_offset`]).
    wall_offset: i64,
}

impl Pinholes {
    /// As [`Gateway::set_wall_offset`], for `lease_file6`.
    pub fn set_wall_offset(&mut self, offset: i64) {
        self.wall_offset = offset;
    }

    /// Start: load `lease_file6` and make the kernel agree with it.
    pub fn start(
        settings: PinholeSettings,
        gw: &mut Gateway,
        now: u64,
    ) -> Result<(Pinholes, Pinhole6Report), PinholeServiceError> {
        let store = file_store(&settings);
        Self::start_with(settings, gw, store, now)
    }

    /// [`Pinholes::start`] with `lease_file6` in `store` (`None`: not persisted),
    /// as [`Gateway::start_with`].
    pub fn start_with(
        settings: PinholeSettings,
        gw: &mut Gateway,
        store: Option<Box<dyn crate::lease::LeaseStore>>,
        now: u64,
    ) -> Result<(Pinholes, Pinhole6Report), PinholeServiceError> {
        let mut p = Pinholes {
            table: PinholeTable::default(),
            settings,
            journal: crate::lease::Journal::new(store),
            wall_offset: 0,
        };
        let mut report = Pinhole6Report::default();
        if p.journal.is_on() {
            let text = p.journal.load();
            let (entries, skipped, expired) = parse_lease6(&text, now);
            report.skipped = skipped;
            report.expired = expired;
            for e in entries {
                match p.table.add(e.pinhole, Some(e.uid), now) {
                    Ok(_) => report.restored += 1,
                    Err(err) => {
                        tracing::warn!(%err, "lease6 entry refused");
                        report.skipped += 1;
                    }
                }
            }
        }
        let fw = gw.firewall();
        let mut changes: Vec<Change> = Vec::new();
        for e in fw.list_pinholes()? {
            if p.table.find(&e.pinhole.key).is_none() {
                changes.push(Change::RemovePinhole(e.pinhole.key));
                report.removed += 1;
            }
        }
        changes.extend(
            p.table
                .iter()
                .map(|r| Change::PutPinhole(r.firewall_pinhole(now))),
        );
        for chunk in changes.chunks(portgate_nft::MAX_BATCH_CHANGES) {
            fw.apply(chunk)?;
        }
        p.persist();
        Ok((p, report))
    }

    /// Wrap into the shared handle.
    pub fn into_shared(self) -> SharedPinholes {
        Rc::new(RefCell::new(self))
    }

    /// The table, for reading.
    pub fn table(&self) -> &PinholeTable {
        &self.table
    }

    /// The settings in force.
    pub fn settings(&self) -> &PinholeSettings {
        &self.settings
    }

    /// New settings (SIGHUP); pinholes are kept (and written to the new
    /// `lease_file6` when it moved).
    pub fn reload(&mut self, settings: PinholeSettings) {
        let moved = settings.lease_file6 != self.settings.lease_file6;
        self.settings = settings;
        if moved {
            self.journal.set_store(file_store(&self.settings));
            self.persist();
        }
    }

    /// Whether `ip` is a LAN host (inside a LAN prefix, not the gateway).
    pub fn is_lan(&self, ip: Ipv6Addr) -> bool {
        self.settings
            .lan
            .iter()
            .any(|l| l.contains(ip) && l.addr != ip)
    }

    /// Add (or refresh) a pinhole. `by`, when given, must be the internal
    /// client (the caller maps that to UPnP 606 itself, before calling).
    pub fn add(
        &mut self,
        gw: &mut Gateway,
        req: NewPinhole,
        now: u64,
    ) -> Result<PinholeAdded, PinholeServiceError> {
        if !self.settings.enabled {
            return Err(PinholeServiceError::Disabled);
        }
        self.expire(gw, now);
        if !super::valid_internal_client(req.internal_client) {
            return Err(PinholeError::BadInternalClient(req.internal_client).into());
        }
        if !self.is_lan(req.internal_client) {
            return Err(PinholeServiceError::NotLan(req.internal_client));
        }
        let added = self.table.add(req, None, now)?;
        let change = Change::PutPinhole(added.record.firewall_pinhole(now));
        if let Err(err) = self.apply(gw, &[change], now) {
            tracing::warn!(%err, "firewall refused a pinhole; rolled back");
            let _ = self.table.delete(added.record.uid, None, now);
            if let Some(prev) = &added.previous {
                self.table.restore(prev.clone());
            }
            return Err(err.into());
        }
        tracing::debug!(uid = added.record.uid, client = %added.record.spec.internal_client,
            port = added.record.spec.internal_port, "pinhole added");
        let line = super::format_lease6_line_at(&added.record, self.wall_offset);
        self.journal(&line, now);
        Ok(added)
    }

    /// New lease for pinhole `uid` (`by` must own it when given).
    pub fn update(
        &mut self,
        gw: &mut Gateway,
        uid: u16,
        expiry: Option<u64>,
        by: Option<Ipv6Addr>,
        now: u64,
    ) -> Result<PinholeRecord, PinholeServiceError> {
        if !self.settings.enabled {
            return Err(PinholeServiceError::Disabled);
        }
        self.expire(gw, now);
        let (old, new) = self.table.update(uid, expiry, by, now)?;
        let change = Change::PutPinhole(new.firewall_pinhole(now));
        if let Err(err) = self.apply(gw, &[change], now) {
            self.table.restore(old);
            return Err(err.into());
        }
        let line = super::format_lease6_line_at(&new, self.wall_offset);
        self.journal(&line, now);
        Ok(new)
    }

    /// Delete pinhole `uid` (`by` must own it when given).
    pub fn delete(
        &mut self,
        gw: &mut Gateway,
        uid: u16,
        by: Option<Ipv6Addr>,
        now: u64,
    ) -> Result<PinholeRecord, PinholeServiceError> {
        if !self.settings.enabled {
            return Err(PinholeServiceError::Disabled);
        }
        self.expire(gw, now);
        let gone = self.table.delete(uid, by, now)?;
        if let Err(err) = self.apply(gw, &[Change::RemovePinhole(gone.firewall_key())], now) {
            self.table.restore(gone);
            return Err(err.into());
        }
        self.journal(&super::format_lease6_removal(gone.uid), now);
        Ok(gone)
    }

    /// Delete `client`'s pinhole of (`protocol`, `internal_port`), as PCP
    /// names it; a PCP pinhole's nonce must match when `nonce` is given.
    pub fn delete_internal(
        &mut self,
        gw: &mut Gateway,
        client: Ipv6Addr,
        protocol: Protocol,
        internal_port: u16,
        nonce: Option<&crate::table::Nonce>,
        now: u64,
    ) -> Result<PinholeRecord, PinholeServiceError> {
        self.expire(gw, now);
        let found = self
            .table
            .iter()
            .find(|r| {
                r.spec.internal_client == client
                    && r.spec.protocol == protocol
                    && r.spec.internal_port == internal_port
            })
            .cloned()
            .ok_or(PinholeError::NoSuchEntry)?;
        crate::table::check_nonce(found.spec.origin.nonce(), nonce, false)?;
        self.delete(gw, found.uid, None, now)
    }

    /// The pinhole `uid`, if live at `now`.
    pub fn get(&self, uid: u16, now: u64) -> Option<&PinholeRecord> {
        self.table.get(uid, now)
    }

    /// Packets accepted through pinhole `uid` (the kernel's counter).
    pub fn packets(
        &mut self,
        gw: &mut Gateway,
        uid: u16,
        now: u64,
    ) -> Result<u64, PinholeServiceError> {
        let key = self
            .table
            .get(uid, now)
            .ok_or(PinholeError::NoSuchEntry)?
            .firewall_key();
        let list = gw.firewall().list_pinholes()?;
        Ok(list
            .iter()
            .find(|e| e.pinhole.key == key)
            .map_or(0, |e| e.packets))
    }

    /// Remove what is due at `now` (the kernel has usually timed it out
    /// already); the file is marked dirty.
    pub fn expire(&mut self, gw: &mut Gateway, now: u64) -> Vec<PinholeRecord> {
        let gone = self.table.expire(now);
        if !gone.is_empty() {
            let changes: Vec<Change> = gone
                .iter()
                .map(|r| Change::RemovePinhole(r.firewall_key()))
                .collect();
            if let Err(err) = gw.firewall().apply(&changes) {
                tracing::debug!(%err, "removing expired pinholes failed");
            }
            self.journal.mark_dirty(now, gone.len(), self.table.len());
        }
        gone
    }

    /// When [`Pinholes::handle_timeout`] must next be called (see
    /// [`Gateway::poll_timeout`]).
    pub fn poll_timeout(&self) -> Option<std::time::Duration> {
        [self.next_expiry(), self.journal.flush_due()]
            .into_iter()
            .flatten()
            .min()
            .map(std::time::Duration::from_secs)
    }

    /// Runs what is due at `now`: expiry, then the journal's sync or the
    /// compaction expiries call for, when due.
    pub fn handle_timeout(&mut self, gw: &mut Gateway, now: std::time::Duration) {
        let secs = now.as_secs();
        self.expire(gw, secs);
        if self.journal.flush_due().is_some_and(|t| t <= secs) {
            self.flush(secs);
        }
    }

    /// When [`Pinholes::expire`] should next run.
    pub fn next_expiry(&self) -> Option<u64> {
        self.table.next_expiry()
    }

    /// Rewrite `lease_file6` if expiries are pending, else sync the journal.
    pub fn flush(&mut self, now: u64) {
        if self.journal.is_dirty() {
            self.persist();
        } else {
            self.journal.sync(now);
        }
    }

    /// Write `lease_file6` whole now (start-up, shutdown, compaction).
    pub fn persist(&mut self) {
        let offset = self.wall_offset;
        let text: String = self
            .table
            .iter()
            .map(|r| super::format_lease6_line_at(r, offset))
            .collect();
        self.journal.compact(text, 0);
    }

    /// Appends `text` to the journal, or compacts when it must (see
    /// [`crate::lease::Journal`]; with no pinhole left the file is emptied).
    fn journal(&mut self, text: &str, now: u64) {
        if !self.journal.is_on() {
            return;
        }
        if self.table.is_empty() || !self.journal.append(text, self.table.len(), now) {
            self.persist();
        }
    }

    /// One transaction; on a missing table, recreate it and push mappings
    /// and pinholes again.
    fn apply(
        &mut self,
        gw: &mut Gateway,
        changes: &[Change],
        now: u64,
    ) -> Result<(), FirewallError> {
        match gw.firewall().apply(changes) {
            Err(FirewallError::TableMissing(t)) => {
                tracing::warn!(table = %t, "firewall table missing: recreating it");
                self.restore_firewall(gw, now)
            }
            other => other,
        }
    }

    /// Sets the firewall up again and pushes every mapping of `gw` and every pinhole
    /// of ours: after our table went missing, or a firewall reload flushed our rules
    /// (the elements that survived are kept; missing ones are added again).
    pub fn restore_firewall(&self, gw: &mut Gateway, now: u64) -> Result<(), FirewallError> {
        let wanted: Vec<portgate_nft::Mapping> = gw
            .table()
            .iter()
            .map(|m| firewall_mapping(m, now))
            .collect();
        let fw: &mut dyn Firewall = gw.firewall();
        fw.init()?;
        fw.reconcile(&wanted)?;
        let pins: Vec<Change> = self
            .table
            .iter()
            .map(|r| Change::PutPinhole(r.firewall_pinhole(now)))
            .collect();
        for chunk in pins.chunks(portgate_nft::MAX_BATCH_CHANGES) {
            fw.apply(chunk)?;
        }
        Ok(())
    }
}
