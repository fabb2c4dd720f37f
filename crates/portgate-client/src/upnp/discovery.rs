//! SSDP discovery of Internet Gateway Devices (UDA 1.1 §1.3), sans-IO: the collector
//! emits M-SEARCH datagrams, takes replies (and entries from an SSDP cache daemon),
//! and says when to stop: as soon as a gateway answered plus a grace period, or at
//! the deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use portgate_proto::minissdpd;
use portgate_proto::ssdp::{MSearch, Mx, SearchTarget, SsdpMessage};

/// What portgate searches for, best first (UDA 1.1 §1.3.2 search targets).
pub const SEARCH_TARGETS: [&str; 5] = [
    "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
];

/// MX sent in searches: 1 s is the UDA minimum; devices answer within a random delay
/// up to MX, so a small MX gets answers sooner.
pub const SEARCH_MX: u32 = 1;

/// Most replies kept: a LAN has a handful of gateways; the cap bounds memory when a
/// host floods replies.
pub const MAX_HITS: usize = 64;

/// When discovery stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Give up (or, with answers, stop) after this long.
    pub timeout: Duration,
    /// After the first answer, keep listening this long for others. `None`: wait the
    /// whole timeout (the `discover` command's mode).
    pub grace: Option<Duration>,
    /// Resend the searches once after this long with no answer (UDP may drop them).
    pub resend_after: Duration,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            grace: Some(Duration::from_millis(20)),
            resend_after: Duration::from_millis(300),
        }
    }
}

/// One gateway (or WAN service) that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsdpHit {
    /// The description URL.
    pub location: String,
    /// The search target it answered for.
    pub st: String,
    /// Its unique service name.
    pub usn: String,
    /// Its SERVER header, if any.
    pub server: Option<String>,
    /// Who answered (`None` for entries from the cache daemon).
    pub from: Option<SocketAddr>,
    /// Time from the start of discovery to this answer.
    pub elapsed: Duration,
}

/// The discovery state machine.
#[derive(Debug)]
pub struct Discovery {
    config: DiscoveryConfig,
    started: Option<Instant>,
    sends: u32,
    first_hit: Option<Instant>,
    hits: Vec<SsdpHit>,
}

fn wanted(st: &str) -> bool {
    SEARCH_TARGETS
        .iter()
        .any(|t| t.eq_ignore_ascii_case(st.trim()))
}

impl Discovery {
    /// A collector with `config`.
    pub fn new(config: DiscoveryConfig) -> Self {
        Self {
            config,
            started: None,
            sends: 0,
            first_hit: None,
            hits: Vec::new(),
        }
    }

    /// The M-SEARCH datagrams for every target (to send to 239.255.255.250:1900).
    pub fn searches() -> Vec<Vec<u8>> {
        SEARCH_TARGETS
            .iter()
            .map(|st| {
                let mut out = Vec::new();
                MSearch::multicast(
                    SearchTarget::from_value(st),
                    SEARCH_MX,
                    Some(crate::http::USER_AGENT),
                )
                .emit(&mut out);
                out
            })
            .collect()
    }

    /// The unicast M-SEARCH to send to `device` (its IP and port 1900). UDA 1.1
    /// §1.3.2: a unicast search has HOST naming the device and no MX, and the device
    /// answers at once instead of after a random delay within MX, so a gateway already
    /// known from the routing table is found in one round trip. One datagram, for
    /// InternetGatewayDevice:1, which IGD:2 devices answer too (UDA 1.1 §1.3.2: a device
    /// answers searches for lower versions of its type); gateways rate-limit searches
    /// per sender, so this spends as little of that budget as possible.
    pub fn unicast_search(device: SocketAddr) -> Vec<u8> {
        let st = SEARCH_TARGETS[1];
        let mut m = MSearch::multicast(
            SearchTarget::from_value(st),
            SEARCH_MX,
            Some(crate::http::USER_AGENT),
        );
        m.host = Some(device.to_string());
        m.mx = Mx::Absent;
        let mut out = Vec::new();
        m.emit(&mut out);
        out
    }

    /// The datagrams to send now (all searches at the start and once more after
    /// [`DiscoveryConfig::resend_after`] without an answer).
    pub fn poll_transmit(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let start = *self.started.get_or_insert(now);
        let due = match self.sends {
            0 => true,
            1 => self.hits.is_empty() && now >= start + self.config.resend_after,
            _ => false,
        };
        if due {
            self.sends += 1;
            Self::searches()
        } else {
            Vec::new()
        }
    }

    /// When to wake up next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let start = self.started?;
        let mut t = start + self.config.timeout;
        if self.sends == 1 && self.hits.is_empty() {
            t = t.min(start + self.config.resend_after);
        }
        if let (Some(first), Some(g)) = (self.first_hit, self.config.grace) {
            t = t.min(first + g);
        }
        Some(t)
    }

    /// Whether discovery is over.
    pub fn is_done(&self, now: Instant) -> bool {
        let Some(start) = self.started else {
            return false;
        };
        if now >= start + self.config.timeout || self.hits.len() >= MAX_HITS {
            return true;
        }
        matches!((self.first_hit, self.config.grace), (Some(f), Some(g)) if now >= f + g)
    }

    fn add(&mut self, now: Instant, hit: SsdpHit) {
        if self.hits.len() >= MAX_HITS || self.hits.iter().any(|h| h.location == hit.location) {
            return;
        }
        tracing::debug!(location = %hit.location, st = %hit.st, "ssdp: gateway answered");
        self.first_hit.get_or_insert(now);
        self.hits.push(hit);
    }

    /// A datagram arrived on a search socket. Anything that is not a search response
    /// (or alive NOTIFY) for an IGD target with a LOCATION is ignored.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let elapsed = self
            .started
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        let (st, location, usn, server) = match SsdpMessage::parse(bytes) {
            Ok(SsdpMessage::Response(r)) => (r.st.to_string(), r.location, r.usn.0, r.server),
            Ok(SsdpMessage::Notify(n)) => (n.nt.to_string(), n.location, n.usn.0, n.server),
            Ok(SsdpMessage::Search(_)) => return,
            Err(e) => {
                tracing::trace!(%from, error = %e, "ssdp: undecodable datagram ignored");
                return;
            }
        };
        let Some(location) = location.filter(|l| !l.is_empty()) else {
            return;
        };
        if !wanted(&st) {
            return;
        }
        self.add(
            now,
            SsdpHit {
                location,
                st,
                usn,
                server,
                from: Some(from),
                elapsed,
            },
        );
    }

    /// Entries an SSDP cache daemon returned (MiniSSDPd socket protocol): IGD types are kept.
    pub fn handle_cache_entries(&mut self, now: Instant, entries: &[minissdpd::Entry]) {
        for e in entries.iter().filter(|e| wanted(&e.st)) {
            self.add(
                now,
                SsdpHit {
                    location: e.location.clone(),
                    st: e.st.clone(),
                    usn: e.usn.clone(),
                    server: None,
                    from: None,
                    elapsed: Duration::ZERO,
                },
            );
        }
    }

    /// Everything found so far, in order of arrival.
    pub fn hits(&self) -> &[SsdpHit] {
        &self.hits
    }

    /// Takes the hits out.
    pub fn into_hits(self) -> Vec<SsdpHit> {
        self.hits
    }

    /// The M-SEARCH datagrams for every target over IPv6 (UDA 1.1 §1.3.2, Annex A):
    /// HOST `[FF02::C]:1900` (link-local scope: every gateway on the link) or, with
    /// `site_local`, `[FF05::C]:1900`. Send them to that group on each interface (the
    /// interface index as scope id / multicast interface).
    pub fn searches_v6(site_local: bool) -> Vec<Vec<u8>> {
        let host = if site_local {
            portgate_proto::ssdp::HOST_V6_SITE_LOCAL
        } else {
            portgate_proto::ssdp::HOST_V6_LINK_LOCAL
        };
        SEARCH_TARGETS
            .iter()
            .map(|st| {
                let mut m = MSearch::multicast(
                    SearchTarget::from_value(st),
                    SEARCH_MX,
                    Some(crate::http::USER_AGENT),
                );
                m.host = Some(host.to_owned());
                let mut out = Vec::new();
                m.emit(&mut out);
                out
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> SocketAddr {
        "10.0.0.1:1900".parse().expect("addr")
    }

    // Constructed to mimic a miniupnpd 2.x search response.
    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\n\
ST: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\n\
USN: uuid:12345678-0000-0000-0000-000000000000::urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\n\
EXT:\r\nSERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\n\
LOCATION: http://10.0.0.1:5000/rootDesc.xml\r\nOPT: \"http://schemas.upnp.org/upnp/1/0/\"; ns=01\r\n\r\n";

    #[test]
    fn searches_are_valid_msearch() {
        for d in Discovery::searches() {
            let m = MSearch::parse(&d).expect("parses");
            assert!(wanted(&m.st.to_string()));
        }
        assert_eq!(Discovery::searches().len(), 5);
    }

    #[test]
    fn unicast_search_names_the_device_and_has_no_mx() {
        let dev: SocketAddr = "10.77.0.1:1900".parse().expect("addr");
        let d = Discovery::unicast_search(dev);
        let m = MSearch::parse(&d).expect("parses");
        assert_eq!(m.host.as_deref(), Some("10.77.0.1:1900"));
        assert_eq!(m.mx, Mx::Absent);
        assert_eq!(
            m.st.to_string(),
            "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
        );
        assert!(!String::from_utf8_lossy(&d).contains("MX:"));
    }

    #[test]
    fn stops_after_grace_when_a_gateway_answered() {
        let mut d = Discovery::new(DiscoveryConfig::default());
        let t0 = Instant::now();
        assert_eq!(d.poll_transmit(t0).len(), 5);
        assert!(d.poll_transmit(t0).is_empty());
        let t1 = t0 + Duration::from_millis(3);
        d.handle_datagram(t1, src(), RESPONSE);
        d.handle_datagram(t1, src(), RESPONSE); // duplicate location
        assert_eq!(d.hits().len(), 1);
        assert_eq!(d.hits()[0].location, "http://10.0.0.1:5000/rootDesc.xml");
        assert_eq!(d.hits()[0].elapsed, Duration::from_millis(3));
        assert!(!d.is_done(t1));
        assert_eq!(d.poll_timeout(), Some(t1 + Duration::from_millis(20)));
        assert!(d.is_done(t1 + Duration::from_millis(20)));
    }

    #[test]
    fn resends_once_then_times_out() {
        let mut d = Discovery::new(DiscoveryConfig::default());
        let t0 = Instant::now();
        d.poll_transmit(t0);
        let t = d.poll_timeout().expect("timer");
        assert_eq!(t, t0 + Duration::from_millis(300));
        assert_eq!(d.poll_transmit(t).len(), 5);
        assert_eq!(d.poll_timeout(), Some(t0 + Duration::from_secs(2)));
        assert!(d.poll_transmit(t0 + Duration::from_secs(1)).is_empty());
        assert!(d.is_done(t0 + Duration::from_secs(2)));
        assert!(d.hits().is_empty());
    }

    #[test]
    fn ignores_garbage_other_types_and_no_location() {
        let mut d = Discovery::new(DiscoveryConfig::default());
        d.poll_transmit(Instant::now());
        let now = Instant::now();
        d.handle_datagram(now, src(), b"");
        d.handle_datagram(now, src(), &[0xff; 3000]);
        d.handle_datagram(now, src(), &vec![b':'; 9000]);
        let printer = String::from_utf8_lossy(RESPONSE)
            .replace("device:InternetGatewayDevice:2", "device:Printer:1")
            .into_bytes();
        d.handle_datagram(now, src(), &printer);
        let no_loc = String::from_utf8_lossy(RESPONSE)
            .replace("LOCATION: http://10.0.0.1:5000/rootDesc.xml\r\n", "")
            .into_bytes();
        d.handle_datagram(now, src(), &no_loc);
        let search = Discovery::searches().remove(0);
        d.handle_datagram(now, src(), &search);
        assert!(d.hits().is_empty());
    }

    #[test]
    fn cache_entries_count_as_answers() {
        let mut d = Discovery::new(DiscoveryConfig::default());
        let now = Instant::now();
        d.poll_transmit(now);
        d.handle_cache_entries(
            now,
            &[
                minissdpd::Entry {
                    location: "http://10.0.0.1:5000/rootDesc.xml".into(),
                    st: SEARCH_TARGETS[1].into(),
                    usn: "uuid:x".into(),
                },
                minissdpd::Entry {
                    location: "http://10.0.0.9/x.xml".into(),
                    st: "urn:schemas-upnp-org:device:MediaServer:1".into(),
                    usn: "uuid:y".into(),
                },
            ],
        );
        assert_eq!(d.hits().len(), 1);
    }

    #[test]
    fn ipv6_searches_name_the_ipv6_group() {
        for (site, host) in [(false, "[FF02::C]:1900"), (true, "[FF05::C]:1900")] {
            let all = Discovery::searches_v6(site);
            assert_eq!(all.len(), SEARCH_TARGETS.len());
            for (d, st) in all.iter().zip(SEARCH_TARGETS) {
                let m = MSearch::parse(d).expect("parses");
                assert_eq!(m.host.as_deref(), Some(host));
                assert_eq!(m.st.to_string(), st);
                let text = String::from_utf8_lossy(d);
                assert!(text.starts_with("M-SEARCH * HTTP/1.1\r\n"), "{text}");
                assert!(text.contains(&format!("HOST: {host}\r\n")), "{text}");
                assert!(text.contains("MX: 1\r\n"), "{text}");
            }
        }
        // An answer from a link-local address with a scope is collected like any other.
        let mut d = Discovery::new(DiscoveryConfig::default());
        let now = Instant::now();
        d.poll_transmit(now);
        let resp = String::from_utf8_lossy(RESPONSE)
            .replace("http://10.0.0.1:5000/", "http://[2001:db8:1::1]:5000/")
            .into_bytes();
        let from = SocketAddr::V6(std::net::SocketAddrV6::new(
            "fe80::1".parse().expect("ll"),
            1900,
            0,
            3,
        ));
        d.handle_datagram(now, from, &resp);
        assert_eq!(
            d.hits()[0].location,
            "http://[2001:db8:1::1]:5000/rootDesc.xml"
        );
        assert_eq!(d.hits()[0].from, Some(from));
    }
}
