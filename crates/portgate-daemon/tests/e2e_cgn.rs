//! End-to-end CGN mode (docs/scale.md): portgated in the lab's gateway with a pool of
//! four external addresses on its WAN interface and the LAN hosts as subscribers. Each
//! subscriber maps over PCP, gets its paired address, and bytes from the WAN host to
//! that address and port reach it; the same port on two pool addresses reaches two
//! different subscribers; THIRD_PARTY works from the configured CPE proxy only;
//! NAT-PMP is refused (it is off in CGN mode unless configured); a subscriber flooding
//! PCP requests is cut to `cgn_request_rate` in the kernel, before the daemon's socket,
//! while another is served, and the limit comes back after a flush. The lab runs without
//! its own masquerade: the admin's SNAT rule from docs/scale.md is installed instead,
//! and a subscriber's outbound connection must reach the WAN host from its paired
//! address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use portgate_lab::{Host, Lab, Proc};
use portgate_proto::{natpmp, pcp};

const PROBE: Duration = Duration::from_secs(2);
const START_TIMEOUT: Duration = Duration::from_secs(20);

struct Cgn {
    lab: Lab,
    daemon: Proc,
    dir: tempfile::TempDir,
    pool: Vec<Ipv4Addr>,
}

/// The lab with `pool` addresses (the WAN /24's .100 upwards) added to the gateway's WAN
/// interface and portgated in CGN mode over them, the LAN /24 as subscribers.
fn start(hosts: usize, pool: u8, extra: &str) -> anyhow::Result<Option<Cgn>> {
    if !portgate_lab::require() {
        return Ok(None);
    }
    let lab = Lab::builder().lan_hosts(hosts).masquerade(false).build()?;
    let gw = lab.gateway().clone();
    let wan = lab.external_ipv4().octets();
    let pool: Vec<Ipv4Addr> = (0..pool)
        .map(|i| Ipv4Addr::new(wan[0], wan[1], wan[2], 100 + i))
        .collect();
    for a in &pool {
        lab.exec(
            Host::Gateway,
            &["ip", "addr", "add", &format!("{a}/32"), "dev", &gw.wan.name],
        )?;
    }
    // The admin's SNAT with the same pairing (docs/scale.md): offset mod pool size, here
    // the low bits of the address (the LAN prefix is aligned, the pool a power of two).
    let elems: Vec<String> = pool
        .iter()
        .enumerate()
        .map(|(i, a)| format!("0.0.0.{i} : {a}"))
        .collect();
    lab.nft(
        Host::Gateway,
        &format!(
            "table ip cgn_snat {{\n chain postrouting {{\n  type nat hook postrouting \
             priority srcnat; policy accept;\n  oifname \"{wan}\" ip saddr {net}/{len} \
             snat ip to ip saddr & 0.0.0.{mask} map {{ {elems} }}\n }}\n}}\n",
            wan = gw.wan.name,
            net = Ipv4Addr::from(u32::from(gw.lan.ipv4) & !(u32::MAX >> gw.lan.ipv4_prefix)),
            len = gw.lan.ipv4_prefix,
            mask = pool.len() - 1,
            elems = elems.join(", "),
        ),
    )?;
    let dir = tempfile::tempdir()?;
    let extra = extra
        .replace("@LAN0@", &lab.ipv4(Host::Lan(0)).to_string())
        .replace("@DIR@", &dir.path().display().to_string());
    let list: Vec<String> = pool.iter().map(|a| a.to_string()).collect();
    let text = format!(
        "ext_ifname={wan}\nlistening_ip={lan}/{prefix}\next_allow_private_ipv4=yes\n\
         control_socket=none\nmin_lifetime=1\ncgn_mode=yes\ncgn_external_pool={list}\n\
         cgn_subscribers={net}/{prefix}\n{extra}",
        wan = gw.wan.name,
        lan = gw.lan.ipv4,
        prefix = gw.lan.ipv4_prefix,
        list = list.join(","),
        net = Ipv4Addr::from(u32::from(gw.lan.ipv4) & !(u32::MAX >> gw.lan.ipv4_prefix)),
    );
    std::fs::write(dir.path().join("miniupnpd.conf"), text)?;
    let daemon = spawn(&lab, dir.path())?;
    Ok(Some(Cgn {
        lab,
        daemon,
        dir,
        pool,
    }))
}

/// portgated in the gateway with the configuration in `dir`.
fn spawn(lab: &Lab, dir: &Path) -> anyhow::Result<Proc> {
    let cfg = dir.join("miniupnpd.conf");
    let bin = Path::new(env!("CARGO_BIN_EXE_portgated"));
    let args = [
        bin.as_os_str(),
        "-d".as_ref(),
        "-f".as_ref(),
        cfg.as_os_str(),
    ];
    Ok(lab.spawn_daemon(Host::Gateway, &args, "listening on", START_TIMEOUT)?)
}

impl Cgn {
    fn server(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.lab.gateway().lan.ipv4), pcp::SERVER_PORT)
    }

    /// The pool address subscriber `host` pairs with: its offset in the subscriber
    /// prefix modulo the pool's size (the pool is sorted).
    fn paired(&self, host: Host) -> Ipv4Addr {
        let prefix = self.lab.gateway().lan.ipv4_prefix;
        let offset = u32::from(self.lab.ipv4(host)) & (u32::MAX >> prefix);
        self.pool[offset as usize % self.pool.len()]
    }

    fn exchange(&self, host: Host, req: &[u8]) -> anyhow::Result<Vec<u8>> {
        let sock = self.lab.in_netns(host, || UdpSocket::bind("0.0.0.0:0"))??;
        sock.set_read_timeout(Some(Duration::from_secs(2)))?;
        sock.send_to(req, self.server())?;
        let mut buf = [0u8; 1500];
        let (n, _) = sock.recv_from(&mut buf)?;
        Ok(buf[..n].to_vec())
    }

    /// A PCP MAP of TCP `port` (suggested = internal) from `host`, for `third_party` when
    /// given.
    fn map(
        &self,
        host: Host,
        port: u16,
        third_party: Option<Ipv4Addr>,
    ) -> anyhow::Result<pcp::Response> {
        let mut options = vec![pcp::PcpOption::Description("cgn e2e".into())];
        if let Some(a) = third_party {
            options.push(pcp::PcpOption::ThirdParty(IpAddr::V4(a)));
        }
        let req = pcp::Request {
            lifetime: 600,
            client_address: IpAddr::V4(self.lab.ipv4(host)),
            data: pcp::OpData::Map(pcp::MapData {
                nonce: [port as u8; 12],
                protocol: 6,
                internal_port: port,
                external_port: port,
                external_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            }),
            options,
        };
        Ok(pcp::Response::parse(
            &self.exchange(host, &req.to_bytes())?,
        )?)
    }

    /// The source address the WAN host sees on a TCP connection from `host`.
    fn outbound_source(&self, host: Host) -> anyhow::Result<Ipv4Addr> {
        let wan = self.lab.ipv4(Host::Wan);
        let listener = self
            .lab
            .in_netns(Host::Wan, || std::net::TcpListener::bind((wan, 7000)))??;
        let to = SocketAddr::new(IpAddr::V4(wan), 7000);
        let _conn = self.lab.in_netns(host, move || {
            std::net::TcpStream::connect_timeout(&to, Duration::from_secs(2))
        })??;
        let (_, peer) = listener.accept()?;
        match peer.ip() {
            IpAddr::V4(a) => Ok(a),
            IpAddr::V6(a) => anyhow::bail!("IPv6 peer {a}"),
        }
    }

    fn reaches(&self, to: Ipv4Addr, port: u16, host: Host) -> anyhow::Result<bool> {
        Ok(self.lab.tcp_probe(
            Host::Wan,
            SocketAddr::new(IpAddr::V4(to), port),
            (host, port),
            b"through the pool",
            PROBE,
        )?)
    }
}

fn mapped(resp: &pcp::Response) -> (IpAddr, u16) {
    match &resp.data {
        pcp::OpData::Map(m) => (m.external_address, m.external_port),
        other => panic!("not a MAP answer: {other:?}"),
    }
}

#[test]
fn subscribers_get_their_paired_address_and_wan_bytes_reach_them() -> anyhow::Result<()> {
    let Some(t) = start(2, 4, "")? else {
        return Ok(());
    };
    let (a, b) = (Host::Lan(0), Host::Lan(1));
    assert_ne!(
        t.paired(a),
        t.paired(b),
        "two subscribers, two pool addresses"
    );
    for host in [a, b] {
        let resp = t.map(host, 1500, None)?;
        assert_eq!(resp.result, pcp::ResultCode::Success, "{resp:?}");
        // Both keep port 1500: it lies in each one's port set, on different addresses.
        assert_eq!(mapped(&resp), (IpAddr::V4(t.paired(host)), 1500));
    }
    assert!(t.reaches(t.paired(a), 1500, a)?, "WAN -> first subscriber");
    assert!(t.reaches(t.paired(b), 1500, b)?, "WAN -> second subscriber");
    // Outbound, the admin's SNAT puts each subscriber on the same paired address.
    for host in [a, b] {
        assert_eq!(
            t.outbound_source(host)?,
            t.paired(host),
            "{host:?} outbound"
        );
    }
    // The other pool addresses hold no mapping of that port.
    let unused: Vec<Ipv4Addr> = t
        .pool
        .iter()
        .copied()
        .filter(|p| *p != t.paired(a) && *p != t.paired(b))
        .collect();
    assert!(!t.reaches(unused[0], 1500, a)?);
    // The kernel's map is keyed by external address.
    let listing = t.lab.exec(
        Host::Gateway,
        &["nft", "list", "map", "inet", "portgate", "fwd4c"],
    )?;
    let text = String::from_utf8_lossy(&listing.stdout);
    for host in [a, b] {
        // `ADDR . tcp . 1500 counter ... timeout ... : CLIENT . 1500`
        let key = format!("{} . tcp . 1500 ", t.paired(host));
        let data = format!(": {} . 1500", t.lab.ipv4(host));
        let found = text
            .split(',')
            .any(|e| e.contains(&key) && e.contains(&data));
        assert!(found, "{key}...{data} in\n{text}");
    }
    // ANNOUNCE is answered.
    let announce = pcp::Request {
        lifetime: 0,
        client_address: IpAddr::V4(t.lab.ipv4(a)),
        data: pcp::OpData::Announce,
        options: vec![],
    };
    let r = pcp::Response::parse(&t.exchange(a, &announce.to_bytes())?)?;
    assert_eq!(r.result, pcp::ResultCode::Success);

    // NAT-PMP is off in CGN mode: refused (RFC 6886 result 2), nothing mapped.
    let pmp = natpmp::Request::Map(natpmp::MapRequest {
        protocol: natpmp::Protocol::Tcp,
        internal_port: 1600,
        suggested_external_port: 1600,
        lifetime: 600,
    });
    let r = natpmp::Response::parse(&t.exchange(a, &pmp.to_bytes())?)?;
    assert_eq!(r.result(), natpmp::ResultCode::NotAuthorized, "{r:?}");
    assert!(!t.reaches(t.paired(a), 1600, a)?);
    Ok(())
}

#[test]
fn third_party_from_the_cpe_proxy_only() -> anyhow::Result<()> {
    // LAN host 0 is the CPE proxy; LAN host 1 a subscriber behind it.
    let Some(t) = start(
        2,
        4,
        "pcp_allow_thirdparty=yes\ncgn_thirdparty_from=@LAN0@/32\n",
    )?
    else {
        return Ok(());
    };
    let (proxy, sub) = (Host::Lan(0), Host::Lan(1));
    let resp = t.map(proxy, 1700, Some(t.lab.ipv4(sub)))?;
    assert_eq!(resp.result, pcp::ResultCode::Success, "{resp:?}");
    assert_eq!(mapped(&resp), (IpAddr::V4(t.paired(sub)), 1700));
    assert!(
        t.reaches(t.paired(sub), 1700, sub)?,
        "WAN -> the proxied subscriber"
    );
    // The subscriber is no proxy: NOT_AUTHORIZED (RFC 6887 section 13.1).
    let resp = t.map(sub, 1701, Some(t.lab.ipv4(proxy)))?;
    assert_eq!(resp.result, pcp::ResultCode::NotAuthorized, "{resp:?}");
    // Nor may the proxy name a host outside the subscriber prefix.
    let resp = t.map(proxy, 1702, Some(Ipv4Addr::new(192, 0, 2, 9)))?;
    assert_eq!(resp.result, pcp::ResultCode::NotAuthorized, "{resp:?}");
    Ok(())
}

/// The lease file in CGN mode: two subscribers map the same port (on their two pool
/// addresses), the daemon is killed and the kernel's table deleted; the restarted
/// daemon puts both back from the file's `#portgate-ext` lines, each on its paired
/// address, and WAN bytes reach each subscriber again.
#[test]
fn pool_mappings_come_back_from_the_lease_file_after_a_kill() -> anyhow::Result<()> {
    let Some(mut t) = start(2, 4, "lease_file=@DIR@/leases\n")? else {
        return Ok(());
    };
    let (a, b) = (Host::Lan(0), Host::Lan(1));
    for host in [a, b] {
        let resp = t.map(host, 1600, None)?;
        assert_eq!(mapped(&resp), (IpAddr::V4(t.paired(host)), 1600));
    }
    let text = std::fs::read_to_string(t.dir.path().join("leases"))?;
    for host in [a, b] {
        let line = format!("#portgate-ext TCP 1600 {}\n", t.paired(host));
        assert!(text.contains(&line), "{text}");
    }
    t.daemon.signal(portgate_lab::Signal::KILL);
    t.daemon.wait_exit(Duration::from_secs(5))?;
    t.lab.exec(
        Host::Gateway,
        &["nft", "delete", "table", "inet", "portgate"],
    )?;
    assert!(!t.reaches(t.paired(a), 1600, a)?, "nothing in the kernel");
    t.daemon = spawn(&t.lab, t.dir.path())?;
    for host in [a, b] {
        assert!(
            t.reaches(t.paired(host), 1600, host)?,
            "{host:?} after the restart"
        );
    }
    Ok(())
}

/// UDP datagrams the gateway's namespace delivered to a socket (`Udp: InDatagrams` of
/// /proc/net/snmp).
fn udp_in_datagrams(t: &Cgn) -> anyhow::Result<u64> {
    let out = t.lab.exec(Host::Gateway, &["cat", "/proc/net/snmp"])?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next(), udp.next());
    let (Some(names), Some(values)) = (names, values) else {
        anyhow::bail!("no Udp lines in\n{text}");
    };
    let at = names
        .split_whitespace()
        .position(|n| n == "InDatagrams")
        .ok_or_else(|| anyhow::anyhow!("no InDatagrams in {names}"))?;
    Ok(values
        .split_whitespace()
        .nth(at)
        .ok_or_else(|| anyhow::anyhow!("short line {values}"))?
        .parse()?)
}

fn input_chain(t: &Cgn) -> anyhow::Result<String> {
    let out = t.lab.exec(
        Host::Gateway,
        &["nft", "list", "chain", "inet", "portgate", "input"],
    )?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_flooding_subscriber_is_dropped_in_the_kernel_and_the_others_are_served() -> anyhow::Result<()>
{
    let Some(t) = start(2, 4, "cgn_request_rate=5\n")? else {
        return Ok(());
    };
    let (flooder, other) = (Host::Lan(0), Host::Lan(1));
    // cgn_request_rate goes to the kernel as a per-source meter in front of 5351.
    let chain = input_chain(&t)?;
    assert!(
        // (nft leaves out a burst of 5 packets: its default)
        chain.contains(
            "udp dport 5351 update @req_rate4 { ip saddr limit rate over 5/second } drop"
        ),
        "{chain}"
    );
    let req = pcp::Request {
        lifetime: 600,
        client_address: IpAddr::V4(t.lab.ipv4(flooder)),
        data: pcp::OpData::Map(pcp::MapData {
            nonce: [7; 12],
            protocol: 6,
            internal_port: 1800,
            external_port: 1800,
            external_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }),
        options: vec![],
    }
    .to_bytes();
    let sock = t.lab.in_netns(flooder, || UdpSocket::bind("0.0.0.0:0"))??;
    let before = udp_in_datagrams(&t)?;
    let start = std::time::Instant::now();
    let mut sent = 0u64;
    for _ in 0..3000 {
        if sock.send_to(&req, t.server()).is_ok() {
            sent += 1;
        }
    }
    // Meanwhile another subscriber is served as usual.
    let resp = t.map(other, 1801, None)?;
    assert_eq!(resp.result, pcp::ResultCode::Success, "{resp:?}");
    let took = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    let delivered = udp_in_datagrams(&t)? - before;
    // The burst (5) plus 5 per second, one second of slack, and the other
    // subscriber's request: everything else was dropped before any socket.
    let most = 5.0 + 5.0 * (took + 1.0) + 1.0;
    assert!(
        sent > 1000 && delivered as f64 <= most && delivered >= 2,
        "{delivered} of {sent} datagrams delivered in {took:.2} s"
    );
    sock.set_read_timeout(Some(Duration::from_millis(300)))?;
    let mut buf = [0u8; 1500];
    let mut answered = 0;
    while sock.recv_from(&mut buf).is_ok() {
        answered += 1;
    }
    assert!(
        answered >= 1 && answered as f64 <= most,
        "{answered} answers"
    );

    // A reload that flushes our input chain is repaired by the firewall watch.
    t.lab.exec(
        Host::Gateway,
        &["nft", "flush", "chain", "inet", "portgate", "input"],
    )?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !input_chain(&t)?.contains("limit rate over 5/second") {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the request limit was not restored"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
