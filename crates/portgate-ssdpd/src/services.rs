//! Services registered over the socket (request type 4) and the M-SEARCH replies the
//! daemon sends on their behalf.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use portgate_proto::minissdpd::{st_matches, Entry, Service};
use portgate_proto::ssdp::{MSearch, Mx, SearchResponse, SearchTarget, Usn, SSDP_MULTICAST_V4};

/// Most registered services. One UPnP server registers a handful (a root device, its
/// UUIDs, device and service types: miniupnpd about 12); 256 serves twenty servers on one
/// host and bounds what a local client can make the daemon hold.
pub const MAX_SERVICES: usize = 256;

/// CACHE-CONTROL max-age in the replies sent for registered services. The daemon
/// cannot know the server's own lifetime; 120 s (MiniSSDPd's value) keeps a control
/// point from holding a stale entry long after the server went away.
pub const REPLY_MAX_AGE: u32 = 120;

/// M-SEARCH requests answered per sender per [`RATE_WINDOW`]: more than a control point
/// needs (it searches a few types, a few times), few enough that an ssdp:all flood from
/// one host cannot make the daemon a traffic amplifier (SECURITY.md).
pub const SEARCHES_PER_WINDOW: u32 = 10;

/// Length of the per-sender rate-limit window.
pub const RATE_WINDOW: Duration = Duration::from_secs(1);

/// Most senders tracked by the rate limiter; when full, searches from untracked senders
/// are dropped until windows expire (a spoofed-source flood cannot grow the table).
pub const MAX_TRACKED_SENDERS: usize = 1024;

/// Most replies waiting for their (MX-spread) send time.
pub const MAX_PENDING_REPLIES: usize = 4096;

/// Outcome of submitting a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// A new (USN, ST) pair was registered.
    Added,
    /// An existing (USN, ST) pair got a new server/location.
    Updated,
    /// Refused: [`MAX_SERVICES`] are registered already.
    Full,
}

/// Registered services, keyed by (USN, ST), in registration order.
#[derive(Debug, Clone, Default)]
pub struct Services {
    list: Vec<Service>,
}

impl Services {
    /// No services.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `service`, replacing the one with the same (USN, ST).
    pub fn submit(&mut self, service: Service) -> SubmitOutcome {
        if let Some(old) = self
            .list
            .iter_mut()
            .find(|s| s.usn == service.usn && s.st == service.st)
        {
            *old = service;
            return SubmitOutcome::Updated;
        }
        if self.list.len() >= MAX_SERVICES {
            return SubmitOutcome::Full;
        }
        self.list.push(service);
        SubmitOutcome::Added
    }

    /// Every registered service.
    pub fn iter(&self) -> impl Iterator<Item = &Service> + '_ {
        self.list.iter()
    }

    /// Number of registered services.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Services answering a search for `st` (`ssdp:all` matches all).
    pub fn by_type<'a>(&'a self, st: &'a str) -> impl Iterator<Item = &'a Service> + 'a {
        let all = st.eq_ignore_ascii_case("ssdp:all");
        self.list
            .iter()
            .filter(move |s| all || st_matches(st, &s.st))
    }

    /// Services with this USN.
    pub fn by_usn<'a>(&'a self, usn: &'a str) -> impl Iterator<Item = &'a Service> + 'a {
        self.list.iter().filter(move |s| s.usn == usn)
    }
}

/// The socket-protocol view of a registered service.
pub fn service_entry(s: &Service) -> Entry {
    Entry {
        location: s.location.clone(),
        st: s.st.clone(),
        usn: s.usn.clone(),
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub dest: SocketAddr,
    /// The datagram.
    pub payload: Vec<u8>,
}

/// Why an M-SEARCH got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchIgnored {
    /// MAN is not `"ssdp:discover"`.
    NotDiscover,
    /// A multicast search without a valid MX (UDA 1.1 §1.3.2).
    NoMx,
    /// The sender exceeded [`SEARCHES_PER_WINDOW`].
    RateLimited,
    /// [`MAX_PENDING_REPLIES`] replies are already waiting.
    QueueFull,
}

/// Whether a HOST field names an SSDP multicast group (else the search was unicast).
fn is_multicast_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host.contains(&SSDP_MULTICAST_V4.to_string())
        || host.contains("ff02::c]")
        || host.contains("ff05::c]")
}

/// Small deterministic generator expanding the caller's random seed into one delay per
/// reply (SplitMix64).
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Schedules replies to M-SEARCH for registered services: spread over MX, rate-limited
/// per sender, bounded queue. Time and randomness come from the caller.
#[derive(Debug, Default)]
pub struct Responder {
    pending: BTreeMap<(Instant, u64), Transmit>,
    senders: HashMap<IpAddr, (Instant, u32)>,
    seq: u64,
}

impl Responder {
    /// An idle responder.
    pub fn new() -> Self {
        Self::default()
    }

    fn admit(&mut self, now: Instant, ip: IpAddr) -> bool {
        if !self.senders.contains_key(&ip) && self.senders.len() >= MAX_TRACKED_SENDERS {
            self.senders
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < RATE_WINDOW);
            if self.senders.len() >= MAX_TRACKED_SENDERS {
                return false;
            }
        }
        let (start, count) = self.senders.entry(ip).or_insert((now, 0));
        if now.saturating_duration_since(*start) >= RATE_WINDOW {
            *start = now;
            *count = 0;
        }
        *count += 1;
        *count <= SEARCHES_PER_WINDOW
    }

    /// Handles an M-SEARCH from `src`: schedules one reply per matching service, each
    /// at a delay drawn from `random` within the MX window (UDA 1.1 §1.3.3). A search
    /// whose HOST is not the multicast group and that has no MX is unicast and answered
    /// at once. Returns how many replies were scheduled.
    pub fn handle_search(
        &mut self,
        now: Instant,
        src: SocketAddr,
        search: &MSearch,
        services: &Services,
        random: u64,
    ) -> Result<usize, SearchIgnored> {
        if !search.man.is_discover() {
            return Err(SearchIgnored::NotDiscover);
        }
        let multicast = search.host.as_deref().map_or(true, is_multicast_host);
        let window_ms = match (search.mx.reply_window_secs(), &search.mx) {
            (Some(secs), _) => u64::from(secs) * 1000,
            (None, Mx::Absent) if !multicast => 0,
            _ => return Err(SearchIgnored::NoMx),
        };
        if !self.admit(now, src.ip()) {
            return Err(SearchIgnored::RateLimited);
        }
        let requested = search.st.to_string();
        let mut state = random;
        let mut scheduled = 0;
        for service in services.by_type(&requested) {
            if self.pending.len() >= MAX_PENDING_REPLIES {
                return if scheduled == 0 {
                    Err(SearchIgnored::QueueFull)
                } else {
                    Ok(scheduled)
                };
            }
            // UDA 1.1 §1.3.3: ST echoes the search, except for ssdp:all where it is the
            // service's own type.
            let st = match search.st {
                SearchTarget::All => SearchTarget::from_value(&service.st),
                ref other => other.clone(),
            };
            let reply = SearchResponse {
                max_age: Some(REPLY_MAX_AGE),
                date: None,
                ext: true,
                location: Some(service.location.clone()),
                opt: None,
                nls: None,
                server: Some(service.server.clone()),
                st,
                usn: Usn(service.usn.clone()),
                boot_id: None,
                config_id: None,
                search_port: None,
            };
            let mut payload = Vec::new();
            reply.emit(&mut payload);
            let delay = if window_ms == 0 {
                0
            } else {
                splitmix(&mut state) % window_ms
            };
            let at = now + Duration::from_millis(delay);
            self.pending
                .insert((at, self.seq), Transmit { dest: src, payload });
            self.seq += 1;
            scheduled += 1;
        }
        Ok(scheduled)
    }

    /// The next reply due at or before `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let (&(at, _), _) = self.pending.first_key_value()?;
        if at > now {
            return None;
        }
        self.pending.pop_first().map(|(_, t)| t)
    }

    /// When the next reply is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.first_key_value().map(|(&(at, _), _)| at)
    }

    /// Replies waiting to be sent.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IGD1: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";
    const IGD2: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:2";

    fn svc(st: &str, usn: &str, loc: &str) -> Service {
        Service {
            st: st.into(),
            usn: usn.into(),
            server: "Linux UPnP/1.1 test/1".into(),
            location: loc.into(),
        }
    }

    fn services() -> Services {
        let mut s = Services::new();
        assert_eq!(
            s.submit(svc(
                IGD2,
                "uuid:a::".to_owned().as_str(),
                "http://10.0.0.1/a"
            )),
            SubmitOutcome::Added
        );
        s.submit(svc(
            "upnp:rootdevice",
            "uuid:a::upnp:rootdevice",
            "http://10.0.0.1/a",
        ));
        s
    }

    fn src() -> SocketAddr {
        "10.0.0.5:40000".parse().unwrap()
    }

    #[test]
    fn submit_updates_same_pair_and_caps() {
        let mut s = services();
        assert_eq!(
            s.submit(svc(IGD2, "uuid:a::", "http://10.0.0.1/new")),
            SubmitOutcome::Updated
        );
        assert_eq!(s.len(), 2);
        assert_eq!(
            s.by_usn("uuid:a::").next().unwrap().location,
            "http://10.0.0.1/new"
        );
        for i in s.len()..MAX_SERVICES {
            assert_eq!(
                s.submit(svc("t", &format!("u{i}"), "l")),
                SubmitOutcome::Added
            );
        }
        assert_eq!(s.submit(svc("t", "one-more", "l")), SubmitOutcome::Full);
        assert_eq!(s.submit(svc("t", "u10", "l2")), SubmitOutcome::Updated);
    }

    #[test]
    fn answers_spread_over_mx() {
        let t0 = Instant::now();
        let mut r = Responder::new();
        let search = MSearch::multicast(SearchTarget::from_value(IGD1), 3, None);
        assert_eq!(
            r.handle_search(t0, src(), &search, &services(), 12345),
            Ok(1)
        );
        let due = r.poll_timeout().unwrap();
        assert!(due >= t0 && due < t0 + Duration::from_secs(3));
        assert_eq!(r.poll_transmit(t0 - Duration::from_millis(1)), None);
        let t = r.poll_transmit(t0 + Duration::from_secs(3)).unwrap();
        assert_eq!(t.dest, src());
        let reply = SearchResponse::parse(&t.payload).unwrap();
        // The requested (older) version is echoed.
        assert_eq!(reply.st.to_string(), IGD1);
        assert_eq!(reply.usn.as_str(), "uuid:a::");
        assert_eq!(reply.location.as_deref(), Some("http://10.0.0.1/a"));
        assert_eq!(reply.max_age, Some(REPLY_MAX_AGE));
        assert!(reply.ext);
        assert_eq!(r.pending(), 0);

        // ssdp:all: one reply per service, each with its own ST.
        let all = MSearch::multicast(SearchTarget::All, 1, None);
        assert_eq!(r.handle_search(t0, src(), &all, &services(), 7), Ok(2));
        let mut sts = Vec::new();
        while let Some(t) = r.poll_transmit(t0 + Duration::from_secs(1)) {
            sts.push(SearchResponse::parse(&t.payload).unwrap().st.to_string());
        }
        sts.sort();
        assert_eq!(sts, ["upnp:rootdevice", IGD2]);
        // Nothing matches a newer version than registered.
        let v3 = MSearch::multicast(
            SearchTarget::from_value("urn:schemas-upnp-org:device:InternetGatewayDevice:3"),
            1,
            None,
        );
        assert_eq!(r.handle_search(t0, src(), &v3, &services(), 7), Ok(0));
    }

    #[test]
    fn ignores_bad_searches() {
        let t0 = Instant::now();
        let mut r = Responder::new();
        let mut s = MSearch::multicast(SearchTarget::All, 1, None);
        s.mx = Mx::Absent;
        assert_eq!(
            r.handle_search(t0, src(), &s, &services(), 1),
            Err(SearchIgnored::NoMx)
        );
        s.mx = Mx::Invalid("x".into());
        assert_eq!(
            r.handle_search(t0, src(), &s, &services(), 1),
            Err(SearchIgnored::NoMx)
        );
        // Unicast (HOST is our address) without MX: answered at once.
        s.mx = Mx::Absent;
        s.host = Some("10.0.0.1:1900".into());
        assert_eq!(r.handle_search(t0, src(), &s, &services(), 1), Ok(2));
        assert!(r.poll_transmit(t0).is_some());
        let mut s = MSearch::multicast(SearchTarget::All, 1, None);
        s.man = portgate_proto::ssdp::Man::Absent;
        assert_eq!(
            r.handle_search(t0, src(), &s, &services(), 1),
            Err(SearchIgnored::NotDiscover)
        );
    }

    #[test]
    fn rate_limited_per_sender() {
        let t0 = Instant::now();
        let mut r = Responder::new();
        let s = MSearch::multicast(SearchTarget::All, 1, None);
        for _ in 0..SEARCHES_PER_WINDOW {
            assert_eq!(r.handle_search(t0, src(), &s, &services(), 1), Ok(2));
        }
        assert_eq!(
            r.handle_search(t0, src(), &s, &services(), 1),
            Err(SearchIgnored::RateLimited)
        );
        // Another sender is not affected.
        let other: SocketAddr = "10.0.0.6:1".parse().unwrap();
        assert_eq!(r.handle_search(t0, other, &s, &services(), 1), Ok(2));
        // The next window admits again.
        assert_eq!(
            r.handle_search(t0 + RATE_WINDOW, src(), &s, &services(), 1),
            Ok(2)
        );
        // Bounded queue.
        let mut r = Responder::new();
        let mut t = t0;
        let mut refused = false;
        for i in 0..400u32 {
            let ip: SocketAddr = (std::net::Ipv4Addr::from(0x0a00_0000 + i), 1).into();
            for _ in 0..SEARCHES_PER_WINDOW {
                t += Duration::from_micros(1);
                if r.handle_search(t, ip, &s, &services(), 1) == Err(SearchIgnored::QueueFull) {
                    refused = true;
                }
            }
        }
        assert!(refused);
        assert_eq!(r.pending(), MAX_PENDING_REPLIES);
    }
}
