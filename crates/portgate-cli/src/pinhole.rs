//! `portgate pinhole ...`: IPv6 firewall pinholes through WANIPv6FirewallControl:1.
//!
//! The gateway is the `--url` description (use its IPv6 address: firewalls in secure
//! mode only let a host open pinholes to the address it calls from) or the first
//! gateway with the service found by SSDP on ff02::c.

use std::net::{IpAddr, Ipv6Addr};

use portgate_client::dualstack;
use portgate_client::route;
use portgate_client::upnp::actions::{self, PinholeProtocol, PinholeSpec};
use portgate_client::upnp::Igd;
use portgate_client::ClientError;

use super::json::obj;
use super::{client, emit, Cli, Json, PinholeAddArgs, PinholeCmd};

fn firewall(cli: &Cli) -> anyhow::Result<Igd> {
    let c = client(cli, false);
    let igd = match &cli.url {
        Some(u) => c.fetch_igd(u)?,
        None => dualstack::find_ipv6_firewall(&c)?,
    };
    if !igd.has_ipv6_firewall() {
        anyhow::bail!("{} has no WANIPv6FirewallControl service", igd.location);
    }
    Ok(igd)
}

/// This host's address for the pinhole: the source address toward the gateway when
/// that is a global IPv6 address, else the global address on the IPv6 default route's
/// interface.
fn local_v6(cli: &Cli, igd: &Igd) -> anyhow::Result<Ipv6Addr> {
    if let Some(IpAddr::V6(gw)) = igd.address() {
        if let Ok(IpAddr::V6(l)) = route::local_address_for(IpAddr::V6(gw)) {
            let link_local = l.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80);
            if !l.is_loopback() && !link_local {
                return Ok(l);
            }
        }
    }
    Ok(route::gateway6_info(cli.interface.as_deref())?.local)
}

fn spec(cli: &Cli, igd: &Igd, a: &PinholeAddArgs) -> anyhow::Result<PinholeSpec> {
    Ok(PinholeSpec {
        remote_host: a.remote_host,
        remote_port: a.remote_port,
        internal_client: match a.internal_client {
            Some(c) => c,
            None => local_v6(cli, igd)?,
        },
        internal_port: a.port,
        protocol: PinholeProtocol::from(a.protocol),
    })
}

fn spec_json(s: &PinholeSpec) -> Json {
    obj([
        ("internal_client", s.internal_client.to_string().into()),
        ("internal_port", u32::from(s.internal_port).into()),
        ("protocol", s.protocol.to_string().into()),
        ("remote_host", s.remote_host.map(|h| h.to_string()).into()),
        ("remote_port", u32::from(s.remote_port).into()),
    ])
}

/// Runs one `pinhole` subcommand.
pub(crate) fn run(cli: &Cli, cmd: &PinholeCmd) -> anyhow::Result<()> {
    let c = client(cli, false);
    let igd = firewall(cli)?;
    match cmd {
        PinholeCmd::Add(a) => {
            let s = spec(cli, &igd, a)?;
            let id = c.call(&igd, actions::add_pinhole(&s, a.lease)?)?;
            emit(
                cli,
                obj([
                    ("id", u32::from(id).into()),
                    ("lease", a.lease.into()),
                    ("pinhole", spec_json(&s)),
                    ("location", igd.location.as_str().into()),
                ]),
                format!(
                    "pinhole {id}: {} [{}]:{} from {} lease {} s",
                    s.protocol,
                    s.internal_client,
                    s.internal_port,
                    s.remote_host
                        .map_or_else(|| "any".to_string(), |h| format!("[{h}]:{}", s.remote_port)),
                    a.lease
                ),
            );
        }
        PinholeCmd::Update { id, lease } => {
            c.call(&igd, actions::update_pinhole(*id, *lease)?)?;
            emit(
                cli,
                obj([("id", u32::from(*id).into()), ("lease", (*lease).into())]),
                format!("pinhole {id}: lease {lease} s"),
            );
        }
        PinholeCmd::Delete { id } => {
            c.call(&igd, actions::delete_pinhole(*id))?;
            emit(
                cli,
                obj([("id", u32::from(*id).into()), ("deleted", true.into())]),
                format!("pinhole {id} deleted"),
            );
        }
        PinholeCmd::Check { id } => {
            // 709 NoTrafficReceived is an answer ("not working yet"), not a failure.
            let working = match c.call(&igd, actions::check_pinhole_working(*id)) {
                Ok(w) => Some(w),
                Err(ClientError::Upnp { code, .. }) if code.code() == 709 => Some(false),
                Err(e) => return Err(e.into()),
            };
            let packets = c.call(&igd, actions::get_pinhole_packets(*id)).ok();
            emit(
                cli,
                obj([
                    ("id", u32::from(*id).into()),
                    ("working", working.into()),
                    ("packets", packets.into()),
                ]),
                format!(
                    "pinhole {id}: {} ({} packets)",
                    match working {
                        Some(true) => "working",
                        _ => "no traffic seen",
                    },
                    packets.map_or_else(|| "?".to_string(), |p| p.to_string())
                ),
            );
        }
        PinholeCmd::Status => {
            let s = c.call(&igd, actions::get_firewall_status())?;
            emit(
                cli,
                obj([
                    ("location", igd.location.as_str().into()),
                    ("firewall_enabled", s.enabled.into()),
                    ("inbound_pinhole_allowed", s.inbound_pinhole_allowed.into()),
                ]),
                format!(
                    "firewall {} inbound pinholes {}",
                    if s.enabled { "enabled" } else { "disabled" },
                    if s.inbound_pinhole_allowed {
                        "allowed"
                    } else {
                        "not allowed"
                    }
                ),
            );
        }
        PinholeCmd::OutboundTimeout(a) => {
            let s = spec(cli, &igd, a)?;
            let t = c.call(&igd, actions::get_outbound_pinhole_timeout(&s))?;
            emit(
                cli,
                obj([
                    ("outbound_pinhole_timeout", t.into()),
                    ("flow", spec_json(&s)),
                ]),
                format!("outbound pinhole timeout {t} s"),
            );
        }
    }
    Ok(())
}
