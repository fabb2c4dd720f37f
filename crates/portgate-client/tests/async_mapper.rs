//! The async front end over the same mapper: [`AsyncMapper`] against the test gateway on
//! loopback (725-only, so the permanent-lease fallback runs), from a tokio runtime.
#![cfg(feature = "tokio")]

#[path = "support/testgw.rs"]
mod testgw;

use std::net::Ipv4Addr;

use portgate_client::asynch::AsyncMapper;
use portgate_client::blocking::Client;
use portgate_client::mapper::{Event, MapSpec, Mapper, Via};
use portgate_client::Protocol;
use testgw::{Behaviour, TestGateway};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_mapper_maps_renews_and_releases() -> Result<(), Box<dyn std::error::Error>> {
    let gw = TestGateway::start(
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::new(192, 0, 2, 7),
        Behaviour {
            permanent_only: true,
            conflicts: 1,
        },
        false,
        None,
    )?;
    let client = Client::new();
    let loc = gw.location.clone();
    let c = client.clone();
    let igd = tokio::task::spawn_blocking(move || c.fetch_igd(&loc)).await??;
    let spec = MapSpec {
        protocol: Protocol::Udp,
        internal_port: 9000,
        external_port: 9000,
        lease: 600,
        remote_host: None,
        description: "async".into(),
        via: Via::Upnp,
    };
    let mut m = AsyncMapper::new(Mapper::new(
        client,
        spec,
        Some(Ipv4Addr::LOCALHOST),
        Some(igd),
    ));
    let got = m.map().await?;
    assert_eq!(got.lease, 0, "725: permanent lease");
    assert_eq!(
        got.external_port, 9001,
        "718 on the first port: the next one"
    );
    assert_eq!(got.external_address, Some("192.0.2.7".parse()?));
    assert_eq!(
        gw.log(),
        [
            "AddPortMapping:725",
            "AddPortMapping:718",
            "AddPortMapping",
            "GetExternalIPAddress"
        ]
    );
    let ev = m.renew().await;
    assert!(
        matches!(ev.as_slice(), [Event::Renewed(r)] if r.external_port == 9001),
        "{ev:?}"
    );
    gw.vanish();
    let ev = m.renew().await;
    assert!(
        matches!(ev.as_slice(), [Event::Recovered(r)] if r.external_port == 9001),
        "{ev:?}"
    );
    assert_eq!(gw.table().len(), 1);
    m.release().await?;
    assert!(gw.table().is_empty(), "released on stop");
    Ok(())
}
