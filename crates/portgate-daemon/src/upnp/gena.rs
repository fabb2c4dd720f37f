//! GENA eventing (UDA 1.1 §4): subscriptions, the initial event, change events, and
//! non-blocking NOTIFY delivery.
//!
//! Rules (UDA 1.1 section 4, SECURITY.md): the CALLBACK host must be the subscriber's own
//! address (CallStranger, CVE-2020-12695), else 412; at most [`MAX_SUBSCRIPTIONS`]
//! subscriptions ([`MAX_SUBSCRIPTIONS_PER_CLIENT`] per client), else 503; a TIMEOUT of
//! at least [`MIN_TIMEOUT`] is honoured (up to [`MAX_TIMEOUT`]), anything shorter,
//! absent or infinite becomes [`MIN_TIMEOUT`]. Each subscription has a bounded queue
//! ([`MAX_QUEUED_EVENTS`]) and at most one delivery task, whose connect, write and
//! read all have deadlines: a subscriber that never reads stalls nothing.
//!
//! Every service's evented variables are compared after each change and only those
//! that changed are sent. WANIPv6FirewallControl:1 events FirewallEnabled and
//! InboundPinholeAllowed only (its other state variables are `A_ARG_TYPE_*`, not
//! evented): a SIGHUP that turns `ipv6_disable` on or off sends both, a pinhole
//! added, updated or removed sends nothing.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use portgate_proto::description::igd::IgdService;
use portgate_proto::gena::propertyset::PropertySet;
use portgate_proto::gena::{GenaRequest, NotifyHead, SubscribeResponse, Timeout};
use portgate_proto::http::{ResponseHead, UrlHost};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Shared, UpnpEvent};

/// Most subscriptions in total (each costs a little memory and one NOTIFY per event).
pub const MAX_SUBSCRIPTIONS: usize = 128;
/// Most subscriptions of one client address: a control point needs one per service.
pub const MAX_SUBSCRIPTIONS_PER_CLIENT: usize = 16;
/// Shortest granted subscription, seconds (UDA 1.1 §4.1.2 recommends at least 1800).
pub const MIN_TIMEOUT: u32 = 1800;
/// Longest granted subscription, seconds (one week; a longer one is cut to this).
pub const MAX_TIMEOUT: u32 = 604_800;
/// Events queued per subscription while one is being delivered; past this, a new
/// event is merged into the last queued one (its variables take their newest
/// values), so no variable's change is lost and SEQ has no gap.
pub const MAX_QUEUED_EVENTS: usize = 4;
/// Deadline for each step (connect, write, read) of a NOTIFY delivery.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// Evented variables with their values.
type Vars = Vec<(String, String)>;

struct Subscription {
    sid: String,
    service: IgdService,
    peer: IpAddr,
    callback: SocketAddr,
    host: String,
    path: String,
    expires: Instant,
    /// SEQ of the next NOTIFY, assigned when it is sent.
    seq: Rc<Cell<u32>>,
    queue: Rc<RefCell<VecDeque<Vars>>>,
    sending: Rc<Cell<bool>>,
}

/// The GENA state of the device.
pub struct GenaService {
    shared: Rc<Shared>,
    subs: RefCell<Vec<Subscription>>,
    last: RefCell<Vec<(IgdService, Vars)>>,
    /// How many times the evented variables were evaluated ([`GenaService::changed`]).
    evaluations: std::cell::Cell<u64>,
}

/// The evented variables of `service` with their current values.
fn variables(shared: &Shared, service: IgdService) -> Vec<(String, String)> {
    let info = shared.ctx.backend.borrow().connection_info();
    variables_with(shared, service, &info)
}

/// [`variables`] with the connection state already read (it reads the WAN link's
/// sysfs files: once per evaluation of all the services, not once per service).
fn variables_with(
    shared: &Shared,
    service: IgdService,
    info: &crate::upnp::backend::ConnectionInfo,
) -> Vec<(String, String)> {
    let backend = shared.ctx.backend.borrow();
    let v = |n: &str, x: String| (n.to_owned(), x);
    match service {
        IgdService::WanIpConnection => vec![
            v("PossibleConnectionTypes", "IP_Routed".into()),
            v(
                "ConnectionStatus",
                if info.connected {
                    "Connected"
                } else {
                    "Disconnected"
                }
                .into(),
            ),
            v(
                "ExternalIPAddress",
                backend
                    .external_ipv4()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
            ),
            v(
                "PortMappingNumberOfEntries",
                backend.mapping_count().to_string(),
            ),
        ],
        IgdService::WanCommonInterfaceConfig => vec![v(
            "PhysicalLinkStatus",
            if info.link_up { "Up" } else { "Down" }.into(),
        )],
        IgdService::Layer3Forwarding => vec![v(
            "DefaultConnectionService",
            format!(
                "uuid:{}:WANConnectionDevice:1,urn:upnp-org:serviceId:WANIPConn1",
                shared.ctx.igd.uuids[2]
            ),
        )],
        IgdService::WanIpv6FirewallControl => match &shared.ctx.ipv6 {
            // Pinholes are all-or-nothing here: both follow ipv6_disable.
            Some(v6) => {
                let on = if v6.pinholes.borrow().enabled() {
                    "1"
                } else {
                    "0"
                };
                vec![
                    v("FirewallEnabled", on.into()),
                    v("InboundPinholeAllowed", on.into()),
                ]
            }
            None => Vec::new(),
        },
    }
}

fn new_sid() -> String {
    let a = fastrand::u64(..);
    let b = fastrand::u64(..);
    format!(
        "uuid:{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// Granted duration for a requested TIMEOUT.
pub fn granted_timeout(asked: Option<Timeout>) -> u32 {
    match asked {
        Some(Timeout::Seconds(n)) => n.clamp(MIN_TIMEOUT, MAX_TIMEOUT),
        Some(Timeout::Infinite) | None => MIN_TIMEOUT,
    }
}

impl GenaService {
    pub(crate) fn new(shared: Rc<Shared>) -> Rc<Self> {
        let info = shared.ctx.backend.borrow().connection_info();
        let last = [
            IgdService::WanIpConnection,
            IgdService::WanCommonInterfaceConfig,
            IgdService::Layer3Forwarding,
            IgdService::WanIpv6FirewallControl,
        ]
        .into_iter()
        .map(|s| (s, variables_with(&shared, s, &info)))
        .collect();
        Rc::new(Self {
            shared,
            subs: RefCell::new(Vec::new()),
            last: RefCell::new(last),
            evaluations: std::cell::Cell::new(0),
        })
    }

    /// How many times the evented variables were evaluated (once per change told).
    #[cfg(test)]
    pub(crate) fn evaluations(&self) -> u64 {
        self.evaluations.get()
    }

    /// Number of live subscriptions.
    pub fn len(&self) -> usize {
        self.subs.borrow().len()
    }

    /// Whether there is no subscription.
    pub fn is_empty(&self) -> bool {
        self.subs.borrow().is_empty()
    }

    fn purge(&self) {
        let now = Instant::now();
        self.subs.borrow_mut().retain(|s| s.expires > now);
    }

    /// Answers SUBSCRIBE / renewal / UNSUBSCRIBE at `service`'s event URL. The second
    /// value is the SID of a new subscription (its initial event is already queued).
    pub(crate) fn handle(
        &self,
        head: &portgate_proto::http::RequestHead,
        service: IgdService,
        peer: IpAddr,
        local: IpAddr,
    ) -> (ResponseHead, Option<String>) {
        self.purge();
        let req = match GenaRequest::from_head(head) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("gena: refused: {e}");
                return (ResponseHead::new(e.status()), None);
            }
        };
        match req {
            GenaRequest::Subscribe(s) => {
                // CallStranger: every callback must point at the subscriber itself.
                let Some(first) = s.callbacks.first() else {
                    return (ResponseHead::new(412), None);
                };
                let own = s.callbacks.iter().all(|c| {
                    c.host_ip().is_some_and(|ip| ip == peer && ip != local)
                        && matches!(c.url.host, UrlHost::Ip(_))
                });
                if !own {
                    tracing::debug!(%peer, "gena: callback to another host refused (CallStranger)");
                    return (ResponseHead::new(412), None);
                }
                let Some(ip) = first.host_ip() else {
                    return (ResponseHead::new(412), None);
                };
                {
                    let subs = self.subs.borrow();
                    let mine = subs.iter().filter(|x| x.peer == peer).count();
                    if subs.len() >= MAX_SUBSCRIPTIONS || mine >= MAX_SUBSCRIPTIONS_PER_CLIENT {
                        return (ResponseHead::new(503), None);
                    }
                }
                let secs = granted_timeout(s.timeout);
                let sid = new_sid();
                let sub = Subscription {
                    sid: sid.clone(),
                    service,
                    peer,
                    callback: SocketAddr::new(ip, first.url.port),
                    host: first.url.authority(),
                    path: first.url.path.clone(),
                    expires: Instant::now() + Duration::from_secs(u64::from(secs)),
                    seq: Rc::new(Cell::new(0)),
                    queue: Rc::new(RefCell::new(VecDeque::new())),
                    sending: Rc::new(Cell::new(false)),
                };
                self.subs.borrow_mut().push(sub);
                let vars = variables(&self.shared, service);
                self.queue_event(&sid, &vars);
                let resp = SubscribeResponse {
                    server: None,
                    sid: sid.clone(),
                    timeout: Timeout::Seconds(secs),
                };
                (resp.to_head(), Some(sid))
            }
            GenaRequest::Renew(r) => {
                let secs = granted_timeout(r.timeout);
                let mut subs = self.subs.borrow_mut();
                match subs
                    .iter_mut()
                    .find(|x| x.sid == r.sid && x.service == service && x.peer == peer)
                {
                    Some(x) => {
                        x.expires = Instant::now() + Duration::from_secs(u64::from(secs));
                        let resp = SubscribeResponse {
                            server: None,
                            sid: r.sid,
                            timeout: Timeout::Seconds(secs),
                        };
                        (resp.to_head(), None)
                    }
                    None => (ResponseHead::new(412), None),
                }
            }
            GenaRequest::Unsubscribe(u) => {
                let mut subs = self.subs.borrow_mut();
                let before = subs.len();
                subs.retain(|x| !(x.sid == u.sid && x.service == service && x.peer == peer));
                if subs.len() == before {
                    (ResponseHead::new(412), None)
                } else {
                    let mut h = ResponseHead::new(200);
                    h.headers.push("Content-Length", "0");
                    (h, None)
                }
            }
        }
    }

    /// Recomputes the evented variables and notifies subscribers of what changed.
    pub(crate) fn changed(&self, _why: UpnpEvent) {
        self.evaluations.set(self.evaluations.get() + 1);
        self.purge();
        let mut last = self.last.borrow_mut();
        let info = self.shared.ctx.backend.borrow().connection_info();
        for (service, old) in last.iter_mut() {
            let now = variables_with(&self.shared, *service, &info);
            let diff: Vec<(String, String)> =
                now.iter().filter(|nv| !old.contains(nv)).cloned().collect();
            *old = now;
            if diff.is_empty() {
                continue;
            }
            let sids: Vec<String> = self
                .subs
                .borrow()
                .iter()
                .filter(|s| s.service == *service)
                .map(|s| s.sid.clone())
                .collect();
            for sid in sids {
                self.queue_event(&sid, &diff);
            }
        }
    }

    fn queue_event(&self, sid: &str, vars: &[(String, String)]) {
        let subs = self.subs.borrow();
        let Some(sub) = subs.iter().find(|s| s.sid == sid) else {
            return;
        };
        {
            let mut q = sub.queue.borrow_mut();
            let full = q.len() >= MAX_QUEUED_EVENTS;
            match q.back_mut() {
                Some(last) if full => merge_vars(last, vars),
                _ => q.push_back(vars.to_vec()),
            }
        }
        if !sub.sending.get() {
            sub.sending.set(true);
            let queue = sub.queue.clone();
            let sending = sub.sending.clone();
            let seq = sub.seq.clone();
            let to = sub.callback;
            let (path, host, sid) = (sub.path.clone(), sub.host.clone(), sub.sid.clone());
            tokio::task::spawn_local(async move {
                loop {
                    let next = queue.borrow_mut().pop_front();
                    let Some(vars) = next else { break };
                    let n = seq.get();
                    // SEQ wraps to 1, never back to 0 (UDA 1.1 §4.3.1).
                    seq.set(n.checked_add(1).unwrap_or(1));
                    let msg = notify_message(&path, &host, &sid, n, vars);
                    if let Err(e) = deliver(to, &msg).await {
                        tracing::debug!(%to, "gena: notify failed: {e}");
                    }
                }
                sending.set(false);
            });
        }
    }
}

/// Folds `newer` into `into`: a variable already there takes the newer value, others
/// are appended.
fn merge_vars(into: &mut Vars, newer: &[(String, String)]) {
    for (name, value) in newer {
        match into.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1.clone_from(value),
            None => into.push((name.clone(), value.clone())),
        }
    }
}

/// One NOTIFY request (head and propertyset body).
fn notify_message(path: &str, host: &str, sid: &str, seq: u32, vars: Vars) -> Vec<u8> {
    let mut body = Vec::new();
    PropertySet { properties: vars }.emit(&mut body);
    let head = NotifyHead {
        path: path.to_owned(),
        host: Some(host.to_owned()),
        sid: sid.to_owned(),
        seq,
        content_length: Some(body.len() as u64),
    };
    let mut msg = Vec::new();
    let mut h = head.to_head();
    h.headers.push("Connection", "close");
    h.emit(&mut msg);
    msg.extend_from_slice(&body);
    msg
}

async fn deliver(to: SocketAddr, msg: &[u8]) -> std::io::Result<()> {
    let timeout =
        |e: tokio::time::error::Elapsed| std::io::Error::new(std::io::ErrorKind::TimedOut, e);
    let mut s = tokio::time::timeout(NOTIFY_TIMEOUT, tokio::net::TcpStream::connect(to))
        .await
        .map_err(timeout)??;
    tokio::time::timeout(NOTIFY_TIMEOUT, s.write_all(msg))
        .await
        .map_err(timeout)??;
    let mut buf = [0u8; 512];
    // Read the status line (or until close); the answer itself does not matter.
    let _ = tokio::time::timeout(NOTIFY_TIMEOUT, s.read(&mut buf)).await;
    Ok(())
}

/// Forwards gateway events to GENA until the sender side is dropped.
pub(crate) async fn event_pump(gena: Rc<GenaService>, mut rx: mpsc::UnboundedReceiver<UpnpEvent>) {
    while let Some(ev) = rx.recv().await {
        gena.changed(ev);
    }
}

/// Forwards the gateway's own events (every front end's changes) to GENA.
pub(crate) async fn gateway_pump(
    gena: Rc<GenaService>,
    rx: tokio::sync::broadcast::Receiver<crate::gateway::GatewayEvent>,
) {
    coalesced_events(rx, |ev| gena.changed(ev)).await;
}

/// Calls `on` for the gateway's events until the sender side is dropped, once per
/// kind for all the events waiting together: a batch of NAT-PMP/PCP requests sends
/// one event per mapping, and GENA evaluates every evented variable (reading the WAN
/// link's sysfs files) on each call, so a hundred changes are one evaluation, not a
/// hundred (the subscribers get the final values, as with event moderation).
pub(crate) async fn coalesced_events(
    mut rx: tokio::sync::broadcast::Receiver<crate::gateway::GatewayEvent>,
    mut on: impl FnMut(UpnpEvent),
) {
    use crate::gateway::GatewayEvent;
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    loop {
        let (mut address, mut mappings) = (false, false);
        let mut note = |ev: Result<GatewayEvent, ()>| match ev {
            Ok(GatewayEvent::ExternalAddressChanged { .. }) => address = true,
            Ok(_) | Err(()) => mappings = true,
        };
        match rx.recv().await {
            Ok(ev) => note(Ok(ev)),
            Err(RecvError::Lagged(_)) => note(Err(())),
            Err(RecvError::Closed) => return,
        }
        let mut closed = false;
        loop {
            match rx.try_recv() {
                Ok(ev) => note(Ok(ev)),
                Err(TryRecvError::Lagged(_)) => note(Err(())),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => {
                    closed = true;
                    break;
                }
            }
        }
        if address {
            on(UpnpEvent::ExternalAddressChanged);
        }
        if mappings {
            on(UpnpEvent::MappingsChanged);
        }
        if closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::GatewayEvent;
    use crate::table::{Mapping, Origin, Protocol};

    fn mapping(port: u16) -> Mapping {
        Mapping {
            external: None,
            protocol: Protocol::Tcp,
            external_port: port,
            remote_host: None,
            internal_client: std::net::Ipv4Addr::new(10, 77, 0, 2),
            internal_port: port,
            description: String::new(),
            expiry: None,
            origin: Origin::NatPmp,
            created_at: 0,
        }
    }

    fn pumped(events: Vec<GatewayEvent>) -> Vec<UpnpEvent> {
        let (tx, rx) = tokio::sync::broadcast::channel(crate::gateway::EVENT_CAPACITY);
        for ev in events {
            tx.send(ev).expect("receiver alive");
        }
        drop(tx);
        let mut seen = Vec::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(coalesced_events(rx, |ev| seen.push(ev)));
        seen
    }

    #[test]
    fn events_waiting_together_are_one_evaluation() {
        let batch: Vec<GatewayEvent> = (0..100)
            .map(|i| GatewayEvent::MappingAdded(mapping(5000 + i)))
            .collect();
        assert_eq!(pumped(batch), [UpnpEvent::MappingsChanged]);
        let mut mixed = vec![GatewayEvent::MappingRemoved(mapping(1))];
        mixed.push(GatewayEvent::ExternalAddressChanged {
            old: None,
            new: None,
            forwarding: false,
        });
        assert_eq!(
            pumped(mixed),
            [
                UpnpEvent::ExternalAddressChanged,
                UpnpEvent::MappingsChanged
            ]
        );
        assert_eq!(pumped(Vec::new()), []);
    }
}
