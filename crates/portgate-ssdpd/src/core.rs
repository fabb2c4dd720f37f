//! The daemon's whole state as a sans-IO machine: SSDP datagrams in, cache and
//! registered services updated, socket clients' bytes in, replies and notification
//! frames out, M-SEARCH replies out at their time. The binary only moves bytes and time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use portgate_proto::minissdpd::{
    Decoded, Entry, Notification, NotificationKind, Request, RequestDecoder, Response, MAX_ENTRIES,
    VERSION,
};
use portgate_proto::ssdp::{MSearch, Nts, SearchTarget, SsdpMessage};
use portgate_proto::DecodeError;

use crate::cache::{Announcement, Cache, Change, DEFAULT_MAX_ENTRIES};
use crate::lan::LanFilter;
use crate::services::{service_entry, Responder, SearchIgnored, Services, SubmitOutcome, Transmit};

/// Default cap on connected socket clients. Control points connect, ask, and leave;
/// subscribers stay. 64 is far above what one host runs and bounds the daemon's memory
/// and file descriptors against a local client opening connections in a loop.
pub const DEFAULT_MAX_CLIENTS: usize = 64;

/// Most bytes waiting to be written to one client. The largest reply (255 entries of
/// capped SSDP lines) is well under this; a subscriber that stops reading is dropped
/// once its backlog passes it, instead of growing the daemon.
pub const MAX_CLIENT_OUTPUT: usize = 1 << 20;

/// MX of the start-up M-SEARCH (UDA 1.1 §1.3.2: 1 to 5).
pub const STARTUP_MX: u32 = 3;

/// Settings of a [`Core`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Senders accepted for SSDP.
    pub lan: LanFilter,
    /// Cache capacity.
    pub max_entries: usize,
    /// Connected clients at most.
    pub max_clients: usize,
    /// `-f`: cache (and search at start-up for) only types starting with this.
    pub device_filter: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            lan: LanFilter::default(),
            max_entries: DEFAULT_MAX_ENTRIES,
            max_clients: DEFAULT_MAX_CLIENTS,
            device_filter: None,
        }
    }
}

/// Identifies a connected socket client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u64);

/// Why a client is (to be) disconnected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent something the protocol does not allow (length past the data,
    /// overlong varint, control characters in a submission, ...).
    Protocol(DecodeError),
    /// The client closed its side and everything it sent was answered.
    Finished,
    /// The client's unread output passed [`MAX_CLIENT_OUTPUT`].
    OutputOverflow,
}

/// What the driver does with a client after feeding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientStatus {
    /// Keep serving (write its output first).
    Open,
    /// Write its output, then disconnect.
    Close(CloseReason),
}

/// What happened to a datagram (for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatagramOutcome {
    /// The sender is not on a served subnet.
    NotLan,
    /// Not a valid SSDP message.
    Malformed(DecodeError),
    /// A NOTIFY/reply without LOCATION, an unknown NTS, or filtered out by `-f`.
    Ignored,
    /// An alive/update/reply was stored or refreshed.
    Cached,
    /// A byebye removed an entry (or there was nothing to remove: `false`).
    ByeBye(bool),
    /// An M-SEARCH was answered with this many replies (scheduled).
    Searched(usize),
    /// An M-SEARCH got no reply.
    SearchIgnored(SearchIgnored),
}

#[derive(Debug, Default)]
struct Client {
    decoder: RequestDecoder,
    subscribed: bool,
    out: Vec<u8>,
    closing: Option<CloseReason>,
}

/// The daemon state machine.
#[derive(Debug)]
pub struct Core {
    config: Config,
    cache: Cache,
    services: Services,
    responder: Responder,
    clients: HashMap<ClientId, Client>,
    next_client: u64,
}

impl Core {
    /// A fresh daemon state.
    pub fn new(config: Config) -> Self {
        Self {
            cache: Cache::new(config.max_entries),
            config,
            services: Services::new(),
            responder: Responder::new(),
            clients: HashMap::new(),
            next_client: 0,
        }
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The registered services.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The start-up M-SEARCH (ssdp:all, or the `-f` type) to multicast on every
    /// served interface; the replies fill the cache.
    pub fn startup_search(&self) -> Vec<u8> {
        let st = self
            .config
            .device_filter
            .as_deref()
            .map_or(SearchTarget::All, SearchTarget::from_value);
        let mut out = Vec::new();
        MSearch::multicast(st, STARTUP_MX, Some(VERSION)).emit(&mut out);
        out
    }

    fn passes_filter(&self, st: &str) -> bool {
        self.config
            .device_filter
            .as_deref()
            .map_or(true, |f| st.starts_with(f))
    }

    /// Handles one SSDP datagram from `src`. `random` spreads M-SEARCH replies.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        src: SocketAddr,
        bytes: &[u8],
        random: u64,
    ) -> DatagramOutcome {
        if !self.config.lan.accepts(src.ip()) {
            tracing::debug!(%src, "ssdp from outside the served subnets dropped");
            return DatagramOutcome::NotLan;
        }
        let message = match SsdpMessage::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(%src, error = %e, "malformed ssdp datagram");
                return DatagramOutcome::Malformed(e);
            }
        };
        let outcome = match message {
            SsdpMessage::Search(search) => {
                match self
                    .responder
                    .handle_search(now, src, &search, &self.services, random)
                {
                    Ok(n) => DatagramOutcome::Searched(n),
                    Err(why) => DatagramOutcome::SearchIgnored(why),
                }
            }
            SsdpMessage::Notify(n) => {
                let st = n.nt.to_string();
                if !self.passes_filter(&st) {
                    return DatagramOutcome::Ignored;
                }
                match n.nts {
                    Nts::ByeBye => {
                        let gone = self.cache.remove(n.usn.as_str(), &st);
                        if let Some(d) = &gone {
                            self.notify(NotificationKind::Removed, d.entry());
                        }
                        DatagramOutcome::ByeBye(gone.is_some())
                    }
                    Nts::Alive | Nts::Update => match n.location {
                        Some(location) => self.store(
                            now,
                            Announcement {
                                location,
                                server: n.server.unwrap_or_default(),
                                st,
                                usn: n.usn.0,
                                max_age: n.max_age,
                                source: src,
                            },
                        ),
                        None => DatagramOutcome::Ignored,
                    },
                    Nts::Other(_) => DatagramOutcome::Ignored,
                }
            }
            SsdpMessage::Response(r) => {
                let st = r.st.to_string();
                match r.location {
                    Some(location) if self.passes_filter(&st) => self.store(
                        now,
                        Announcement {
                            location,
                            server: r.server.unwrap_or_default(),
                            st,
                            usn: r.usn.0,
                            max_age: r.max_age,
                            source: src,
                        },
                    ),
                    _ => DatagramOutcome::Ignored,
                }
            }
        };
        tracing::trace!(%src, ?outcome, "ssdp datagram");
        outcome
    }

    fn store(&mut self, now: Instant, a: Announcement) -> DatagramOutcome {
        let changes = self.cache.announce(now, a);
        self.notify_all(changes);
        DatagramOutcome::Cached
    }

    fn notify_all(&mut self, changes: Vec<Change>) {
        for (kind, entry) in changes {
            self.notify(kind, entry);
        }
    }

    /// Pushes one frame (MiniSSDPd sends one entry per frame) to every subscriber.
    fn notify(&mut self, kind: NotificationKind, entry: Entry) {
        let mut frame = Vec::new();
        Notification {
            kind,
            entries: vec![entry],
        }
        .emit(&mut frame);
        for client in self.clients.values_mut().filter(|c| c.subscribed) {
            if client.closing.is_some() {
                continue;
            }
            if client.out.len() + frame.len() > MAX_CLIENT_OUTPUT {
                client.closing = Some(CloseReason::OutputOverflow);
            } else {
                client.out.extend_from_slice(&frame);
            }
        }
    }

    /// Expires cache entries (notifying subscribers). Call at [`Core::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        for gone in self.cache.expire(now) {
            tracing::debug!(usn = %gone.usn, st = %gone.st, "cache entry expired");
            self.notify(NotificationKind::Removed, gone.entry());
        }
    }

    /// When [`Core::handle_timeout`] or [`Core::poll_transmit`] has work next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.cache.next_expiry(), self.responder.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next M-SEARCH reply due at `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        self.responder.poll_transmit(now)
    }

    /// A new socket client, or `None` when [`Config::max_clients`] are connected.
    pub fn accept(&mut self) -> Option<ClientId> {
        if self.clients.len() >= self.config.max_clients {
            return None;
        }
        let id = ClientId(self.next_client);
        self.next_client += 1;
        self.clients.insert(id, Client::default());
        Some(id)
    }

    /// Connected clients.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Forgets a client (after the driver closed its socket).
    pub fn disconnect(&mut self, id: ClientId) {
        self.clients.remove(&id);
    }

    /// Whether the client subscribed to notifications (it then has no idle deadline).
    pub fn is_subscribed(&self, id: ClientId) -> bool {
        self.clients.get(&id).is_some_and(|c| c.subscribed)
    }

    /// Takes the bytes to write to the client.
    pub fn take_output(&mut self, id: ClientId) -> Vec<u8> {
        self.clients
            .get_mut(&id)
            .map(|c| std::mem::take(&mut c.out))
            .unwrap_or_default()
    }

    /// Clients with output waiting or a pending close (after a datagram, a timeout or
    /// another client's submission), so the driver can wake them.
    pub fn clients_to_wake(&self) -> Vec<ClientId> {
        self.clients
            .iter()
            .filter(|(_, c)| !c.out.is_empty() || c.closing.is_some())
            .map(|(&id, _)| id)
            .collect()
    }

    /// Whether the client must be closed (once its output is written), and why.
    pub fn close_reason(&self, id: ClientId) -> Option<CloseReason> {
        match self.clients.get(&id) {
            Some(c) => c.closing.clone(),
            None => Some(CloseReason::Finished),
        }
    }

    /// Feeds bytes the client wrote; complete requests are answered into its output.
    pub fn client_input(&mut self, id: ClientId, now: Instant, bytes: &[u8]) -> ClientStatus {
        match self.clients.get_mut(&id) {
            Some(c) => c.decoder.feed(bytes),
            None => return ClientStatus::Close(CloseReason::Finished),
        }
        self.process(id, now)
    }

    /// The client closed its writing side.
    pub fn client_eof(&mut self, id: ClientId, now: Instant) -> ClientStatus {
        match self.clients.get_mut(&id) {
            Some(c) => c.decoder.finish(),
            None => return ClientStatus::Close(CloseReason::Finished),
        }
        self.process(id, now)
    }

    fn process(&mut self, id: ClientId, now: Instant) -> ClientStatus {
        self.handle_timeout(now);
        loop {
            let Some(client) = self.clients.get_mut(&id) else {
                return ClientStatus::Close(CloseReason::Finished);
            };
            if let Some(reason) = &client.closing {
                return ClientStatus::Close(reason.clone());
            }
            if client.out.len() > MAX_CLIENT_OUTPUT {
                client.closing = Some(CloseReason::OutputOverflow);
                continue;
            }
            let request = match client.decoder.poll() {
                Ok(Decoded::Ready(r)) => r,
                Ok(Decoded::NeedMore) => return ClientStatus::Open,
                Ok(Decoded::Finished) => {
                    client.closing = Some(CloseReason::Finished);
                    continue;
                }
                Err(e) => {
                    tracing::debug!(client = id.0, error = %e, "bad request, closing client");
                    client.closing = Some(CloseReason::Protocol(e));
                    continue;
                }
            };
            self.answer(id, request);
        }
    }

    fn answer(&mut self, id: ClientId, request: Request) {
        tracing::debug!(client = id.0, ?request, "socket request");
        let response = match request {
            Request::Version => Some(Response::Version(VERSION.to_owned())),
            Request::ByType(st) => Some(Response::Entries(self.collect(
                self.cache.by_type(&st).map(|d| d.entry()),
                self.services.by_type(&st).map(service_entry),
            ))),
            Request::ByUsn(usn) => Some(Response::Entries(self.collect(
                self.cache.by_usn(&usn).map(|d| d.entry()),
                self.services.by_usn(&usn).map(service_entry),
            ))),
            Request::All => Some(Response::Entries(self.collect(
                self.cache.iter().map(|d| d.entry()),
                self.services.iter().map(service_entry),
            ))),
            Request::Submit(service) => {
                match self.services.submit(service.clone()) {
                    SubmitOutcome::Added | SubmitOutcome::Updated => {
                        tracing::debug!(usn = %service.usn, st = %service.st, "service registered");
                    }
                    SubmitOutcome::Full => {
                        tracing::debug!(usn = %service.usn, "service table full, refused");
                    }
                }
                None
            }
            Request::Subscribe => {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.subscribed = true;
                }
                Some(Response::Ack)
            }
            Request::Unknown(t) => {
                tracing::debug!(client = id.0, kind = t, "unknown request type");
                Some(Response::Ack)
            }
        };
        if let (Some(response), Some(c)) = (response, self.clients.get_mut(&id)) {
            response.emit(&mut c.out);
        }
    }

    /// Cache entries then services, cut at the [`MAX_ENTRIES`] one count byte holds.
    fn collect(
        &self,
        cached: impl Iterator<Item = Entry>,
        services: impl Iterator<Item = Entry>,
    ) -> Vec<Entry> {
        cached.chain(services).take(MAX_ENTRIES).collect()
    }
}
