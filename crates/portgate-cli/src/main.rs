//! `portgate`: the command-line client for UPnP IGD, NAT-PMP and PCP gateways
//! (replaces `upnpc` and `natpmpc`).

mod admin;
mod json;
mod peer;
mod pinhole;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use json::{obj, Json};
use portgate_client::blocking::Client;
use portgate_client::mapper::{Event, MapSpec, Mapper, Mapping, Via};
use portgate_client::upnp::actions::{self, Counter};
use portgate_client::upnp::discovery::DiscoveryConfig;
use portgate_client::upnp::Igd;
use portgate_client::{ClientError, Protocol};

const EXIT_CODES: &str = "Exit codes:
  0  success
  1  other error (i/o, malformed reply, bad argument)
  2  usage error
  3  no gateway found (no default route, no UPnP IGD answered)
  4  the gateway refused (UPnP fault, NAT-PMP/PCP result code; the code is printed)
  5  timeout: the gateway did not answer in time";

#[derive(Parser, Debug)]
#[command(name = "portgate", version, about = "Open ports on your router: UPnP IGD, NAT-PMP and PCP client", after_help = EXIT_CODES)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// The gateway's IP address (skip routing-table detection for NAT-PMP/PCP).
    #[arg(long, global = true)]
    gateway: Option<Ipv4Addr>,
    /// A UPnP description URL (skip SSDP discovery).
    #[arg(long, global = true)]
    url: Option<String>,
    /// LAN interface (name or IPv4 address) to discover on.
    #[arg(long, global = true)]
    interface: Option<String>,
    /// Ask the SSDP cache daemon at this socket before multicasting [default: /var/run/minissdpd.sock; skipped when absent].
    #[arg(long, global = true)]
    minissdpd: Option<String>,
    /// Discovery window in milliseconds.
    #[arg(long, global = true, default_value_t = 2000)]
    discover_ms: u64,
    /// Protocol traces (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// List every gateway and protocol found, with timings.
    Discover,
    /// External address, connection status, uptime and link counters.
    Status,
    /// Add a port mapping.
    Map(MapArgs),
    /// Delete a port mapping.
    Unmap(MapArgs),
    /// List the UPnP port mappings.
    List,
    /// Map and keep the mapping alive until Ctrl-C (renews at half the lease, sooner
    /// when the gateway announces a change), then delete it.
    Keep(MapArgs),
    /// IPv6 firewall pinholes (WANIPv6FirewallControl:1): add, update, delete, check.
    #[command(subcommand)]
    Pinhole(PinholeCmd),
    /// The mapping this host's flow to one remote peer uses (PCP PEER, RFC 6887 §12):
    /// created or renewed for the lease, answered with the external address and port.
    Peer(PeerArgs),
    /// Administer a local portgated over its control socket (status, list, delete,
    /// delete-client, reload; root only).
    Admin(admin::AdminArgs),
    /// Print the manual page or a shell completion script (packaging).
    #[command(hide = true)]
    Generate {
        /// man, bash, zsh or fish.
        #[arg(value_parser = ["man", "bash", "zsh", "fish"])]
        what: String,
    },
}

#[derive(Args, Debug)]
struct PeerArgs {
    /// This host's port of the flow.
    port: u16,
    /// The remote peer: `ADDRESS:PORT`, or `[IPV6]:PORT`.
    remote: SocketAddr,
    /// tcp or udp.
    #[arg(long, short, default_value = "udp")]
    protocol: Protocol,
    /// Lifetime in seconds (the gateway clamps it to its limits).
    #[arg(long, default_value_t = 3600)]
    lease: u32,
    /// Suggested external port (0: the gateway chooses).
    #[arg(long, default_value_t = 0)]
    external_port: u16,
    /// Description stored on the gateway (PCP DESCRIPTION option).
    #[arg(long)]
    description: Option<String>,
}

#[derive(Subcommand, Debug)]
enum PinholeCmd {
    /// Open an inbound IPv6 pinhole to this host (prints its UniqueID).
    Add(PinholeAddArgs),
    /// Give pinhole ID a new lease.
    Update {
        /// The pinhole's UniqueID.
        id: u16,
        /// New lease in seconds (1..=86400).
        #[arg(long, default_value_t = 3600)]
        lease: u32,
    },
    /// Delete pinhole ID.
    Delete {
        /// The pinhole's UniqueID.
        id: u16,
    },
    /// Whether traffic went through pinhole ID (CheckPinholeWorking, GetPinholePackets).
    Check {
        /// The pinhole's UniqueID.
        id: u16,
    },
    /// The IPv6 firewall's status (GetFirewallStatus).
    Status,
    /// How long the firewall keeps an idle outbound flow (GetOutboundPinholeTimeout).
    OutboundTimeout(PinholeAddArgs),
}

#[derive(Args, Debug)]
struct PinholeAddArgs {
    /// This host's port to open.
    port: u16,
    /// tcp or udp.
    #[arg(long, short, default_value = "tcp")]
    protocol: Protocol,
    /// Lease in seconds (1..=86400).
    #[arg(long, default_value_t = 3600)]
    lease: u32,
    /// The LAN address to open to (default: this host's global IPv6 address).
    #[arg(long)]
    internal_client: Option<Ipv6Addr>,
    /// Only this remote host may come in (default: any).
    #[arg(long)]
    remote_host: Option<Ipv6Addr>,
    /// Only from this remote port (default: any).
    #[arg(long, default_value_t = 0)]
    remote_port: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ViaArg {
    Auto,
    Upnp,
    Natpmp,
    Pcp,
}

#[derive(Args, Debug)]
struct MapArgs {
    /// External port (0: let the gateway choose).
    external: u16,
    /// Internal port (default: the external port).
    internal: Option<u16>,
    /// tcp or udp.
    #[arg(long, short, default_value = "tcp")]
    protocol: Protocol,
    /// Lease in seconds (UPnP: 0 = permanent).
    #[arg(long, default_value_t = 3600)]
    lease: u32,
    /// Only this remote host may use the mapping.
    #[arg(long)]
    remote_host: Option<IpAddr>,
    /// Description stored on the gateway.
    #[arg(long, default_value = "portgate")]
    description: String,
    /// Which protocol to use.
    #[arg(long, value_enum, default_value = "auto")]
    via: ViaArg,
}

fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::NoGateway | ClientError::NoIgd) => 3,
        Some(
            ClientError::Upnp { .. }
            | ClientError::NatPmp(_)
            | ClientError::Pcp { .. }
            | ClientError::PcpUnsupportedVersion(_)
            | ClientError::HttpStatus(_),
        ) => 4,
        Some(ClientError::Timeout(_)) => 5,
        _ if e.downcast_ref::<admin::Refused>().is_some() => 4,
        _ => 1,
    }
}

/// Entry point of the `portgate` program: parses the process's command line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => tracing_subscriber::filter::LevelFilter::WARN,
        1 => tracing_subscriber::filter::LevelFilter::DEBUG,
        _ => tracing_subscriber::filter::LevelFilter::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if cli.json {
                let code = e
                    .downcast_ref::<ClientError>()
                    .and_then(ClientError::upnp_code);
                println!(
                    "{}",
                    obj([("error", e.to_string().into()), ("upnp_code", code.into())])
                );
            } else {
                eprintln!("portgate: {e:#}");
            }
            ExitCode::from(exit_code(&e))
        }
    }
}

fn client(cli: &Cli, whole_window: bool) -> Client {
    let mut c = Client::new();
    c.interface = cli.interface.clone();
    // Like upnpc: ask the SSDP cache daemon first when its socket is there, then multicast.
    c.minissdpd = Some(
        cli.minissdpd
            .clone()
            .unwrap_or_else(|| portgate_client::blocking::MINISSDPD_SOCKET.into()),
    );
    c.discovery = DiscoveryConfig {
        timeout: Duration::from_millis(cli.discover_ms),
        grace: if whole_window {
            None
        } else {
            DiscoveryConfig::default().grace
        },
        ..DiscoveryConfig::default()
    };
    // A command should not wait RFC 6886's full 64 s on a gateway without NAT-PMP.
    c.natpmp.deadline = Some(Duration::from_secs(4));
    c.pcp.deadline = Some(Duration::from_secs(4));
    c
}

fn igd(cli: &Cli, c: &Client) -> Result<Igd, ClientError> {
    match &cli.url {
        Some(u) => c.fetch_igd(u),
        None => c.find_igd(),
    }
}

fn mapping_json(m: &Mapping) -> Json {
    obj([
        ("via", m.via.to_string().into()),
        ("gateway", m.gateway.to_string().into()),
        ("protocol", m.protocol.upnp().into()),
        (
            "external_address",
            m.external_address.map(|a| a.to_string()).into(),
        ),
        ("external_port", m.external_port.into()),
        ("internal_address", m.internal_address.to_string().into()),
        ("internal_port", m.internal_port.into()),
        ("lease", m.lease.into()),
    ])
}

fn mapping_text(m: &Mapping) -> String {
    let ext = m
        .external_address
        .map_or_else(|| "?".to_string(), |a| a.to_string());
    format!(
        "{} {}:{} -> {}:{} via {} (lease {})",
        m.protocol,
        ext,
        m.external_port,
        m.internal_address,
        m.internal_port,
        m.via,
        if m.lease == 0 {
            "permanent".to_string()
        } else {
            format!("{} s", m.lease)
        }
    )
}

fn spec(a: &MapArgs) -> MapSpec {
    MapSpec {
        protocol: a.protocol,
        internal_port: a.internal.unwrap_or(a.external),
        external_port: a.external,
        lease: a.lease,
        remote_host: a.remote_host,
        description: a.description.clone(),
        via: match a.via {
            ViaArg::Auto => Via::Auto,
            ViaArg::Upnp => Via::Upnp,
            ViaArg::Natpmp => Via::NatPmp,
            ViaArg::Pcp => Via::Pcp,
        },
    }
}

fn mapper(cli: &Cli, a: &MapArgs) -> anyhow::Result<Mapper> {
    let c = client(cli, false);
    let known = match (&cli.url, a.via) {
        (Some(u), ViaArg::Auto | ViaArg::Upnp) => Some(c.fetch_igd(u)?),
        _ => None,
    };
    let mut sp = spec(a);
    if cli.url.is_some() && a.via == ViaArg::Auto {
        sp.via = Via::Upnp;
    }
    Ok(Mapper::new(c, sp, cli.gateway, known))
}

fn emit(cli: &Cli, j: Json, text: String) {
    if cli.json {
        println!("{j}");
    } else {
        println!("{text}");
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.cmd {
        Cmd::Discover => discover(cli),
        Cmd::Status => status(cli),
        Cmd::List => list(cli),
        Cmd::Map(a) => {
            let t = Instant::now();
            let mut m = mapper(cli, a)?;
            let got = m.map()?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            m.detach();
            let mut j = mapping_json(&got);
            if let Json::Obj(o) = &mut j {
                o.push(("elapsed_ms".into(), ms.into()));
            }
            emit(
                cli,
                j,
                format!("mapped {} in {ms:.1} ms", mapping_text(&got)),
            );
            Ok(())
        }
        Cmd::Unmap(a) => unmap(cli, a),
        Cmd::Keep(a) => keep(cli, a),
        Cmd::Pinhole(p) => pinhole::run(cli, p),
        Cmd::Peer(a) => peer::run(cli, a),
        Cmd::Admin(a) => admin::run(cli.json, a),
        Cmd::Generate { what } => generate(what),
    }
}

/// `portgate generate man|bash|zsh|fish`: the manual page (section 1) or a completion
/// script, from the command line definition itself.
fn generate(what: &str) -> anyhow::Result<()> {
    use clap::CommandFactory as _;
    let mut cmd = Cli::command();
    let mut out = std::io::stdout();
    match what {
        "man" => clap_mangen::Man::new(cmd).render(&mut out)?,
        shell => {
            let shell = match shell {
                "bash" => clap_complete::Shell::Bash,
                "zsh" => clap_complete::Shell::Zsh,
                _ => clap_complete::Shell::Fish,
            };
            clap_complete::generate(shell, &mut cmd, "portgate", &mut out);
        }
    }
    Ok(())
}

fn unmap(cli: &Cli, a: &MapArgs) -> anyhow::Result<()> {
    let c = client(cli, false);
    let internal = a.internal.unwrap_or(a.external);
    let via = match a.via {
        ViaArg::Auto if cli.url.is_some() => ViaArg::Upnp,
        v => v,
    };
    let gw = || -> Result<Ipv4Addr, ClientError> {
        match cli.gateway {
            Some(g) => Ok(g),
            None => portgate_client::route::gateway_v4(cli.interface.as_deref()).map(|(g, _)| g),
        }
    };
    let how = match via {
        ViaArg::Natpmp => {
            c.natpmp_unmap(gw()?, a.protocol, internal)?;
            "natpmp"
        }
        ViaArg::Pcp => {
            anyhow::bail!(
                "pcp deletion needs the mapping's nonce: use `portgate keep --via pcp` (deletes on exit) or let the lease run out"
            )
        }
        ViaArg::Upnp | ViaArg::Auto => {
            let i = igd(cli, &c)?;
            c.call(
                &i,
                actions::delete_port_mapping(
                    i.service_type(),
                    a.remote_host,
                    a.external,
                    a.protocol,
                ),
            )?;
            "upnp"
        }
    };
    emit(
        cli,
        obj([
            ("deleted", true.into()),
            ("via", how.into()),
            ("protocol", a.protocol.upnp().into()),
            ("external_port", a.external.into()),
        ]),
        format!("deleted {} {} via {how}", a.protocol, a.external),
    );
    Ok(())
}

fn keep(cli: &Cli, a: &MapArgs) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(rt) = rt {
            let _ = rt.block_on(tokio::signal::ctrl_c());
        }
        flag.store(true, Ordering::SeqCst);
    });
    let mut m = mapper(cli, a)?;
    let got = m.map()?;
    emit(
        cli,
        obj([("event", "mapped".into()), ("mapping", mapping_json(&got))]),
        format!("mapped {}", mapping_text(&got)),
    );
    // The gateway's announcements (address change, PCP restart) bring a renewal forward.
    let announcements = portgate_client::announce::AnnounceListener::open();
    while !stop.load(Ordering::SeqCst) {
        let tick = Instant::now() + Duration::from_millis(100);
        match (&announcements, m.announcer()) {
            (Some(l), Some(gw)) => {
                if let Some(a) = l.wait(gw, tick) {
                    m.announced(&a);
                }
            }
            _ => std::thread::sleep(tick.saturating_duration_since(Instant::now())),
        }
        if m.renew_due().is_some_and(|t| Instant::now() >= t) {
            for ev in m.renew() {
                let (name, j, t) = match &ev {
                    Event::Mapped(x) => ("mapped", mapping_json(x), mapping_text(x)),
                    Event::Renewed(x) => ("renewed", mapping_json(x), mapping_text(x)),
                    Event::Recovered(x) => ("recovered", mapping_json(x), mapping_text(x)),
                    Event::Changed(o, n) => (
                        "changed",
                        mapping_json(n),
                        format!("{} (was {})", mapping_text(n), mapping_text(o)),
                    ),
                    Event::Lost(e) => ("lost", Json::Str(e.clone()), e.clone()),
                };
                emit(
                    cli,
                    obj([("event", name.into()), ("mapping", j)]),
                    format!("{name}: {t}"),
                );
            }
        }
    }
    m.release()?;
    emit(cli, obj([("event", "released".into())]), "released".into());
    Ok(())
}

fn discover(cli: &Cli) -> anyhow::Result<()> {
    let c = client(cli, true);
    let t = Instant::now();
    let gw = match cli.gateway {
        Some(g) => Some(g),
        None => portgate_client::route::gateway_v4(cli.interface.as_deref())
            .ok()
            .map(|(g, _)| g),
    };
    // NAT-PMP and PCP probes run while SSDP discovery listens.
    let (natpmp, pcp, hits) = std::thread::scope(|s| {
        let n = gw.map(|g| {
            let c = c.clone();
            s.spawn(move || {
                let t = Instant::now();
                (c.natpmp_external(g), t.elapsed())
            })
        });
        let p = gw.map(|g| {
            let c = c.clone();
            s.spawn(move || {
                let t = Instant::now();
                let r = portgate_client::route::local_address_for(IpAddr::V4(g)).and_then(|l| {
                    c.run(&mut portgate_client::pcp::PcpTransaction::announce(
                        IpAddr::V4(g),
                        l,
                        c.pcp,
                    ))
                });
                (r, t.elapsed())
            })
        });
        let hits = match &cli.url {
            Some(u) => Ok(vec![portgate_client::upnp::discovery::SsdpHit {
                location: u.clone(),
                st: String::new(),
                usn: String::new(),
                server: None,
                from: None,
                elapsed: Duration::ZERO,
            }]),
            None => c.discover(),
        };
        (
            n.and_then(|h| h.join().ok()),
            p.and_then(|h| h.join().ok()),
            hits,
        )
    });
    let hits = hits?;
    let reports: Vec<_> = hits.iter().map(|h| c.examine(h)).collect();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut text = String::new();
    let mut upnp = Vec::new();
    for r in &reports {
        let (svc, err) = match &r.igd {
            Ok(i) => (Json::from(i.service_type()), Json::Null),
            Err(e) => (Json::Null, Json::from(e.as_str())),
        };
        upnp.push(obj([
            ("location", r.hit.location.as_str().into()),
            ("st", r.hit.st.as_str().into()),
            ("server", r.hit.server.clone().into()),
            ("service", svc.clone()),
            (
                "connected",
                r.status.as_ref().map(|s| s.is_connected()).into(),
            ),
            ("external_address", r.external.map(|a| a.to_string()).into()),
            ("answer_ms", ms(r.hit.elapsed).into()),
            ("examine_ms", ms(r.elapsed).into()),
            ("error", err),
        ]));
        text.push_str(&format!(
            "upnp   {} ({}) external {} answered in {:.1} ms\n",
            r.hit.location,
            match &r.igd {
                Ok(i) => i.service_type().to_string(),
                Err(e) => e.clone(),
            },
            r.external.map_or("?".into(), |a| a.to_string()),
            ms(r.hit.elapsed)
        ));
    }
    let natpmp_j = match &natpmp {
        Some((Ok(e), d)) => {
            text.push_str(&format!(
                "natpmp {} external {} in {:.1} ms\n",
                gw.map_or(String::new(), |g| g.to_string()),
                e.address,
                ms(*d)
            ));
            obj([
                ("external_address", e.address.to_string().into()),
                ("epoch", e.epoch.into()),
                ("ms", ms(*d).into()),
            ])
        }
        Some((Err(e), _)) => obj([("error", e.to_string().into())]),
        None => Json::Null,
    };
    let pcp_j = match &pcp {
        Some((Ok(a), d)) => {
            text.push_str(&format!(
                "pcp    {} epoch {} in {:.1} ms\n",
                gw.map_or(String::new(), |g| g.to_string()),
                a.epoch,
                ms(*d)
            ));
            obj([("epoch", a.epoch.into()), ("ms", ms(*d).into())])
        }
        Some((Err(e), _)) => obj([("error", e.to_string().into())]),
        None => Json::Null,
    };
    text.push_str(&format!("done in {:.1} ms", ms(t.elapsed())));
    emit(
        cli,
        obj([
            ("gateway", gw.map(|g| g.to_string()).into()),
            ("upnp", Json::Arr(upnp)),
            ("natpmp", natpmp_j),
            ("pcp", pcp_j),
        ]),
        text,
    );
    Ok(())
}

fn status(cli: &Cli) -> anyhow::Result<()> {
    let c = client(cli, false);
    let i = igd(cli, &c)?;
    let st = i.service_type().to_string();
    let ext = c.call(&i, actions::get_external_ip_address(&st))?;
    let s = c.call(&i, actions::get_status_info(&st)).ok();
    let ct = c.call(&i, actions::get_connection_type_info(&st)).ok();
    let link = c.call(&i, actions::get_common_link_properties()).ok();
    let count = |k| c.call(&i, actions::get_total(k)).ok();
    let (bs, br, ps, pr) = (
        count(Counter::BytesSent),
        count(Counter::BytesReceived),
        count(Counter::PacketsSent),
        count(Counter::PacketsReceived),
    );
    let text = format!(
        "gateway   {}\nservice   {}\nexternal  {}\nstatus    {} (uptime {} s, last error {})\ntype      {}\nlink      {} up {} / down {} bit/s ({})\nbytes     sent {} received {}\npackets   sent {} received {}",
        i.location,
        st,
        ext.map_or("none".into(), |a| a.to_string()),
        s.as_ref().map_or("?", |s| s.connection_status.as_str()),
        s.as_ref().map_or(0, |s| s.uptime),
        s.as_ref().map_or("?", |s| s.last_connection_error.as_str()),
        ct.as_ref().map_or("?", |c| c.connection_type.as_str()),
        link.as_ref().map_or("?", |l| l.access_type.as_str()),
        link.as_ref().map_or(0, |l| l.upstream_max_bps),
        link.as_ref().map_or(0, |l| l.downstream_max_bps),
        link.as_ref().map_or("?", |l| l.physical_link_status.as_str()),
        bs.unwrap_or(0), br.unwrap_or(0), ps.unwrap_or(0), pr.unwrap_or(0),
    );
    emit(
        cli,
        obj([
            ("location", i.location.as_str().into()),
            ("service", st.as_str().into()),
            ("external_address", ext.map(|a| a.to_string()).into()),
            (
                "connection_status",
                s.as_ref().map(|s| s.connection_status.clone()).into(),
            ),
            ("uptime", s.as_ref().map(|s| s.uptime).into()),
            (
                "last_connection_error",
                s.as_ref().map(|s| s.last_connection_error.clone()).into(),
            ),
            ("connection_type", ct.map(|c| c.connection_type).into()),
            (
                "access_type",
                link.as_ref().map(|l| l.access_type.clone()).into(),
            ),
            (
                "upstream_max_bps",
                link.as_ref().map(|l| l.upstream_max_bps).into(),
            ),
            (
                "downstream_max_bps",
                link.as_ref().map(|l| l.downstream_max_bps).into(),
            ),
            (
                "physical_link_status",
                link.map(|l| l.physical_link_status).into(),
            ),
            ("bytes_sent", bs.into()),
            ("bytes_received", br.into()),
            ("packets_sent", ps.into()),
            ("packets_received", pr.into()),
        ]),
        text,
    );
    Ok(())
}

/// Most entries `list` walks with GetGenericPortMappingEntry (a hostile or broken
/// router that never answers 713 cannot make it loop forever).
const MAX_LIST: u32 = 10_000;

fn list(cli: &Cli) -> anyhow::Result<()> {
    let c = client(cli, false);
    let i = igd(cli, &c)?;
    let st = i.service_type().to_string();
    let mut entries = Vec::new();
    for n in 0..MAX_LIST {
        match c.call(&i, actions::get_generic_port_mapping_entry(&st, n)) {
            Ok(e) => entries.push(e),
            // 713 SpecifiedArrayIndexInvalid ends the table; some IGD:1 routers send 714
            // or 402.
            Err(ClientError::Upnp { code, .. }) if matches!(code.code(), 713 | 714 | 402) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let mut text = format!("{} mapping(s) on {}", entries.len(), i.location);
    let mut arr = Vec::new();
    for (n, e) in entries.iter().enumerate() {
        text.push_str(&format!(
            "\n{n:3} {} {:5} -> {}:{:<5} '{}' remote '{}' lease {}{}",
            e.protocol,
            e.external_port,
            e.internal_client,
            e.internal_port,
            e.description,
            e.remote_host,
            e.lease_time,
            if e.enabled { "" } else { " (disabled)" }
        ));
        arr.push(obj([
            ("protocol", e.protocol.as_str().into()),
            ("external_port", e.external_port.into()),
            ("internal_client", e.internal_client.as_str().into()),
            ("internal_port", e.internal_port.into()),
            ("description", e.description.as_str().into()),
            ("remote_host", e.remote_host.as_str().into()),
            ("enabled", e.enabled.into()),
            ("lease", e.lease_time.into()),
        ]));
    }
    emit(
        cli,
        obj([
            ("location", i.location.as_str().into()),
            ("mappings", Json::Arr(arr)),
        ]),
        text,
    );
    Ok(())
}
