//! Keeping our nftables objects in place when someone else removes them.
//!
//! A firewall reload (OpenWrt's `fw4 reload` flushes the chains it owns, our rules in
//! its `upnp_*` chains with them, while our maps survive) or an admin's
//! `nft flush ruleset` would leave every mapping dead until a client's next request
//! or a restart. The daemon listens to the kernel's nf_tables deletion notifications
//! ([`NftEvents`]); shortly after a burst of them it checks that its table, chains,
//! maps, sets and rules are all there ([`portgate_nft::Firewall::verify`]) and, if
//! not, sets them up again and pushes every mapping and pinhole.

use std::time::Duration;

use portgate_nft::NftEvents;
use tokio::time::Instant;

use crate::gateway::Gateway;
use crate::pinhole::Pinholes;

/// How long after the first deletion of a burst the check runs: a reload's
/// notifications arrive together, and one check covers them all.
const SETTLE: Duration = Duration::from_millis(100);
/// How soon a check runs again after a restore failed (e.g. the admin's tables are
/// being rebuilt and our chains are not back yet).
const RETRY: Duration = Duration::from_secs(5);

/// The deletion notifications and the pending check.
pub(crate) struct FirewallWatch {
    events: Option<tokio::sync::mpsc::Receiver<usize>>,
    check_at: Option<Instant>,
}

impl FirewallWatch {
    /// Subscribes to the deletion notifications of the daemon's network namespace,
    /// read by a thread of their own (blocking reads; no async registration of a raw
    /// descriptor); without them (logged) the table is still restored on a client's
    /// next request.
    pub(crate) fn open() -> Self {
        let events = match NftEvents::open()
            .map_err(std::io::Error::other)
            .and_then(spawn)
        {
            Ok(rx) => Some(rx),
            Err(e) => {
                tracing::warn!(%e, "cannot watch nftables: a firewall reload is repaired only at the next request");
                None
            }
        };
        FirewallWatch {
            events,
            check_at: None,
        }
    }

    /// Resolves once deletions were seen (a check is then due at [`Self::deadline`]);
    /// never resolves without the watching thread.
    pub(crate) async fn changed(&mut self) {
        let Some(rx) = &mut self.events else {
            return std::future::pending().await;
        };
        match rx.recv().await {
            Some(n) => {
                tracing::debug!(deletions = n, "nftables objects deleted");
                self.check_at.get_or_insert(Instant::now() + SETTLE);
            }
            None => self.events = None,
        }
    }

    /// When the pending check is due.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.check_at
    }

    /// Runs the check if it is due: verifies our objects and restores them (and every
    /// mapping and pinhole) when something is missing.
    ///
    /// Also restores everything when a request recovered a missing table on its own
    /// ([`Gateway::take_recreated`]): that recovery pushes the mappings, not the pinholes.
    pub(crate) fn check_if_due(&mut self, gw: &mut Gateway, pins: &Pinholes, now_unix: u64) {
        if gw.take_recreated() {
            tracing::warn!(
                pinholes = pins.table().len(),
                "the nftables table was recreated for a request: pushing the pinholes again"
            );
            self.restore(gw, pins, now_unix);
        }
        if !self.check_at.is_some_and(|t| Instant::now() >= t) {
            return;
        }
        self.check_at = None;
        match gw.firewall().verify() {
            Ok(true) => tracing::debug!("nftables objects all in place"),
            Ok(false) | Err(_) => {
                tracing::warn!(
                    mappings = gw.table().len(),
                    pinholes = pins.table().len(),
                    "our nftables rules or table were removed (firewall reload or flush): restoring them"
                );
                self.restore(gw, pins, now_unix);
            }
        }
    }

    /// Sets everything up again: table, rules, mappings and pinholes; on failure a
    /// check is due again in [`RETRY`].
    fn restore(&mut self, gw: &mut Gateway, pins: &Pinholes, now_unix: u64) {
        match pins.restore_firewall(gw, now_unix) {
            Ok(()) => tracing::info!("nftables table, rules and mappings restored"),
            Err(e) => {
                tracing::error!(%e, "cannot restore the nftables objects yet; trying again in 5 s");
                self.check_at = Some(Instant::now() + RETRY);
            }
        }
    }
}

/// Reads `events` on a thread of its own, which ends when the receiver is gone and
/// the next deletion arrives.
fn spawn(mut events: NftEvents) -> std::io::Result<tokio::sync::mpsc::Receiver<usize>> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    std::thread::Builder::new()
        .name("nft-watch".into())
        .spawn(move || loop {
            match events.wait() {
                Ok(n) => {
                    // A full channel already holds a pending wake-up: nothing is lost.
                    if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) =
                        tx.try_send(n)
                    {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(%e, "nftables watch failed; reloads are repaired at the next request");
                    return;
                }
            }
        })?;
    Ok(rx)
}
