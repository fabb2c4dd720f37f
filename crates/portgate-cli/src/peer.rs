//! `portgate peer ...`: PCP PEER (RFC 6887 §12): ask the gateway for the mapping this
//! host's flow from one of its ports to one remote peer uses, so the peer can be told
//! where to send. Over IPv4 the IPv4 gateway (`--gateway` or the default route)
//! answers with the external address and port it assigned; over IPv6 the IPv6 gateway
//! opens a pinhole for that peer's address and port.

use std::net::IpAddr;

use portgate_client::dualstack;
use portgate_client::pcp::PeerParams;
use portgate_client::route;

use super::json::obj;
use super::{client, emit, Cli, PeerArgs};

/// Runs `portgate peer`.
pub(crate) fn run(cli: &Cli, a: &PeerArgs) -> anyhow::Result<()> {
    let c = client(cli, false);
    let mut params = PeerParams::new(a.protocol.iana(), a.port, a.remote, a.lease);
    params.suggested_external_port = a.external_port;
    params.description = a.description.clone();
    let got = match a.remote.ip() {
        IpAddr::V4(_) => {
            let gw = match cli.gateway {
                Some(g) => g,
                None => route::gateway_v4(cli.interface.as_deref())?.0,
            };
            c.pcp_peer(IpAddr::V4(gw), params)?
        }
        IpAddr::V6(_) => {
            let gw = route::gateway6_info(cli.interface.as_deref())?;
            dualstack::pcp_peer_v6(&c, &gw, params)?
        }
    };
    emit(
        cli,
        obj([
            ("via", "pcp".into()),
            ("protocol", a.protocol.upnp().into()),
            ("internal_port", u32::from(got.internal_port).into()),
            ("external_address", got.external_address.to_string().into()),
            ("external_port", u32::from(got.external_port).into()),
            ("remote_peer", a.remote.to_string().into()),
            ("lifetime", got.lifetime.into()),
        ]),
        format!(
            "peer {} {} -> {} via {}:{} (lifetime {} s)",
            a.protocol,
            got.internal_port,
            a.remote,
            got.external_address,
            got.external_port,
            got.lifetime
        ),
    );
    Ok(())
}
