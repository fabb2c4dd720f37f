//! Registration with an SSDP cache daemon (MiniSSDPd, `portgate-ssdpd`) when UDP 1900
//! is taken: the services are registered with it over its unix socket instead.
//!
//! Every (NT, USN) pair the device would announce is submitted with request type 4
//! (ST, USN, SERVER, LOCATION; see [`portgate_proto::minissdpd`]), so the cache daemon
//! answers M-SEARCH on the device's behalf. The submissions are repeated every notify
//! interval, so a cache daemon restarted in between learns them again.
//!
//! The cache daemon keys services by (USN, ST), so one location per pair is kept: the
//! first LAN address's description URL is registered (as MiniUPnPd does).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use portgate_proto::minissdpd::{Request, Service};
use tokio::io::AsyncWriteExt;

use super::ssdp::Responder;
use super::Shared;

/// Shortest re-submission period: `notify_interval` is at least this (as for NOTIFY).
pub const MIN_RESUBMIT_SECS: u64 = 30;

/// How long one connect-and-submit may take: the cache daemon is local, a stalled
/// socket must not hold the task for a whole period.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(5);

/// The services to submit: one per announced (NT, USN), with `location` and the
/// responder's SERVER string, in announcement order.
pub fn services(responder: &Responder, location: &str) -> Vec<Service> {
    responder
        .announced()
        .iter()
        .map(|a| Service {
            st: a.nt.to_string(),
            usn: a.usn.to_string(),
            server: responder.server.clone(),
            location: location.to_owned(),
        })
        .collect()
}

/// The bytes sent to the cache daemon: one type 4 request per service, back to back.
pub fn encode(services: &[Service]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in services {
        Request::Submit(s.clone()).emit(&mut out);
    }
    out
}

/// Connects to `path` and writes `payload` (type 4 has no reply), then closes.
pub async fn submit(path: &Path, payload: &[u8]) -> std::io::Result<()> {
    let work = async {
        let mut stream = tokio::net::UnixStream::connect(path).await?;
        stream.write_all(payload).await?;
        stream.shutdown().await
    };
    tokio::time::timeout(SUBMIT_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// Submits the device's services to the cache daemon at `path` now and then every
/// notify interval, forever (aborted with the device's other tasks). Logs at info
/// when a registration succeeds after none or a failure, a warning when it fails
/// after none or a success; the HTTP side is unaffected either way.
pub(crate) async fn run(shared: Rc<Shared>, path: PathBuf, http_port: u16) {
    let Some(lan) = shared.ctx.lan.first() else {
        return;
    };
    let location = format!("http://{}:{http_port}/rootDesc.xml", lan.addr);
    let responder = Responder::new(
        &shared.ctx.igd,
        shared.server.clone(),
        shared.ctx.notify_interval,
        shared.ctx.boot_id,
    );
    let list = services(&responder, &location);
    let payload = encode(&list);
    let period = Duration::from_secs(u64::from(shared.ctx.notify_interval).max(MIN_RESUBMIT_SECS));
    let mut last_ok: Option<bool> = None;
    loop {
        match submit(&path, &payload).await {
            Ok(()) => {
                if last_ok != Some(true) {
                    tracing::info!(
                        "upnp: registered {} services with SSDP cache daemon at {}",
                        list.len(),
                        path.display()
                    );
                } else {
                    tracing::debug!("upnp: re-registered {} services", list.len());
                }
                last_ok = Some(true);
            }
            Err(e) => {
                if last_ok != Some(false) {
                    tracing::warn!(
                        "upnp: cannot register with SSDP cache daemon at {}: {e}; \
                         serving HTTP only",
                        path.display()
                    );
                }
                last_ok = Some(false);
            }
        }
        tokio::time::sleep(period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portgate_proto::description::IgdConfig;

    const SERVER: &str = "Linux/6 UPnP/1.1 portgate/0.1";
    const LOC: &str = "http://192.168.1.1:5000/rootDesc.xml";
    const ROOT: &str = "11111111-1111-1111-1111-111111111111";
    const WAN: &str = "11111111-1111-1111-1111-111111111112";
    const WCD: &str = "11111111-1111-1111-1111-111111111113";

    fn responder() -> Responder {
        let igd = IgdConfig {
            uuids: [ROOT.into(), WAN.into(), WCD.into()],
            ..IgdConfig::default()
        };
        Responder::new(&igd, SERVER.into(), 900, 7)
    }

    #[test]
    fn submits_every_announced_pair() {
        let list = services(&responder(), LOC);
        let pairs: Vec<(String, String)> =
            list.iter().map(|s| (s.st.clone(), s.usn.clone())).collect();
        let urn = |kind: &str, name: &str| format!("urn:schemas-upnp-org:{kind}:{name}:1");
        let expected = vec![
            (
                "upnp:rootdevice".to_owned(),
                format!("uuid:{ROOT}::upnp:rootdevice"),
            ),
            (format!("uuid:{ROOT}"), format!("uuid:{ROOT}")),
            (
                urn("device", "InternetGatewayDevice"),
                format!("uuid:{ROOT}::{}", urn("device", "InternetGatewayDevice")),
            ),
            (
                urn("service", "Layer3Forwarding"),
                format!("uuid:{ROOT}::{}", urn("service", "Layer3Forwarding")),
            ),
            (format!("uuid:{WAN}"), format!("uuid:{WAN}")),
            (
                urn("device", "WANDevice"),
                format!("uuid:{WAN}::{}", urn("device", "WANDevice")),
            ),
            (
                urn("service", "WANCommonInterfaceConfig"),
                format!("uuid:{WAN}::{}", urn("service", "WANCommonInterfaceConfig")),
            ),
            (format!("uuid:{WCD}"), format!("uuid:{WCD}")),
            (
                urn("device", "WANConnectionDevice"),
                format!("uuid:{WCD}::{}", urn("device", "WANConnectionDevice")),
            ),
            (
                urn("service", "WANIPConnection"),
                format!("uuid:{WCD}::{}", urn("service", "WANIPConnection")),
            ),
        ];
        assert_eq!(pairs, expected);
        assert!(list.iter().all(|s| s.server == SERVER && s.location == LOC));
    }

    #[test]
    fn first_request_bytes() {
        let list = services(&responder(), LOC);
        let bytes = encode(list.get(..1).unwrap_or_default());
        // Type 4, then ST, USN, SERVER, LOCATION each with a one-byte length (all < 128).
        let mut expected = vec![4u8];
        for s in [
            "upnp:rootdevice",
            "uuid:11111111-1111-1111-1111-111111111111::upnp:rootdevice",
            SERVER,
            LOC,
        ] {
            expected.push(u8::try_from(s.len()).unwrap_or(0));
            expected.extend_from_slice(s.as_bytes());
        }
        assert_eq!(bytes, expected);
        assert_eq!(&bytes[..2], &[0x04, 0x0f]);
        assert_eq!(&bytes[2..17], b"upnp:rootdevice");
    }

    #[test]
    fn stream_decodes_back_to_the_list() {
        let list = services(&responder(), LOC);
        let bytes = encode(&list);
        let mut rest = bytes.as_slice();
        let mut decoded = Vec::new();
        while !rest.is_empty() {
            match Request::decode_prefix(rest) {
                Ok(Some((Request::Submit(s), used))) => {
                    decoded.push(s);
                    rest = rest.get(used..).unwrap_or_default();
                }
                other => panic!("bad request stream: {other:?}"),
            }
        }
        assert_eq!(decoded, list);
    }

    #[test]
    fn port_in_use_sees_through_context() {
        use anyhow::Context as _;
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        let e = std::net::UdpSocket::bind(("127.0.0.1", port))
            .context("cannot bind udp port")
            .unwrap_err();
        assert!(super::super::ssdp::port_in_use(&e));
        assert!(!super::super::ssdp::port_in_use(&anyhow::anyhow!("other")));
    }

    #[tokio::test]
    async fn submit_reaches_a_listener_and_missing_socket_errors() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().join("ssdpd.sock");
        assert_eq!(
            submit(&path, b"x").await.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::NotFound)
        );
        let listener =
            tokio::net::UnixListener::bind(&path).unwrap_or_else(|e| panic!("bind: {e}"));
        let payload = encode(&services(&responder(), LOC));
        let reader = async {
            let (mut s, _) = listener
                .accept()
                .await
                .unwrap_or_else(|e| panic!("accept: {e}"));
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut s, &mut got)
                .await
                .unwrap_or_else(|e| panic!("read: {e}"));
            got
        };
        let (sent, got) = tokio::join!(submit(&path, &payload), reader);
        assert!(sent.is_ok());
        assert_eq!(got, payload);
    }
}
