//! The lab topology: building it, describing it, running things in it, tearing it down.

use std::ffi::OsStr;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{LabError, Result};
use crate::netns;
use crate::process::{self, Proc, Registry};

/// The nftables table of [`Lab::block_udp_out`].
const GUARD_TABLE: &str = "pg_udp_guard";

/// Time limit of [`Lab::exec`] and [`Lab::exec_unchecked`]: long enough for any setup
/// command, short enough that a hung client fails a test instead of stalling CI.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// Most LAN hosts a lab holds: LAN addresses are `.2` to `.201` of one /24.
pub const MAX_LAN_HOSTS: usize = 200;

/// The LAN's IPv4 network (a /24 inside 10.0.0.0/8, docs/design.md "The namespace lab"): gateway `.1`, hosts
/// from `.2`.
pub const LAN_NET_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 0);

/// Default WAN network: TEST-NET-3 (RFC 5737), gateway `.1`, WAN host `.2`.
pub const WAN_TEST_NET: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 0);

/// A WAN network outside miniupnpd's reserved-address list, for runs against Debian's
/// miniupnpd-nftables, which refuses a reserved external address (see docs/design.md). It exists
/// only inside the lab's namespaces.
pub const WAN_UNRESERVED_NET: Ipv4Addr = Ipv4Addr::new(192, 0, 1, 0);

/// The LAN's IPv6 /64 (RFC 3849 documentation prefix): gateway `::1`, hosts from `::2`.
pub const LAN_NET_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0);

/// The WAN's IPv6 /64: gateway `::1`, WAN host `::2`. Routed, no NAT66.
pub const WAN_NET_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0);

/// Name of the gateway's LAN bridge; the gateway's LAN addresses live on it.
pub const GATEWAY_LAN_IF: &str = "br-lan";
/// Name of the gateway's WAN interface.
pub const GATEWAY_WAN_IF: &str = "wan0";
/// Name of the single interface of every LAN host and of the WAN host.
pub const HOST_IF: &str = "eth0";
/// Name of the nftables table (family ip) holding the gateway's masquerade rule.
pub const LAB_NFT_TABLE: &str = "lab";

/// A machine of the lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// The gateway (router): forwards, masquerades, runs the daemon under test.
    Gateway,
    /// The LAN host with this index (from 0).
    Lan(usize),
    /// The "internet" host on the gateway's WAN side.
    Wan,
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Gateway => f.pad("gw"),
            Host::Lan(i) => f.pad(&format!("l{i}")),
            Host::Wan => f.pad("wan"),
        }
    }
}

/// One configured interface of a lab host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iface {
    /// Interface name inside the host's namespace.
    pub name: String,
    /// IPv4 address.
    pub ipv4: Ipv4Addr,
    /// IPv4 prefix length.
    pub ipv4_prefix: u8,
    /// Global IPv6 address (/64), when the lab was built with IPv6.
    pub ipv6: Option<Ipv6Addr>,
}

/// A LAN host or the WAN host: one namespace with one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostNet {
    /// Network namespace name (usable with `ip netns exec`).
    pub netns: String,
    /// Its only interface ([`HOST_IF`]).
    pub iface: Iface,
}

/// The gateway: LAN bridge, WAN interface, and the bridge ports towards the LAN hosts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayNet {
    /// Network namespace name.
    pub netns: String,
    /// The LAN side: bridge [`GATEWAY_LAN_IF`].
    pub lan: Iface,
    /// The WAN side: [`GATEWAY_WAN_IF`]; its IPv4 address is the external address.
    pub wan: Iface,
    /// Bridge ports, `lan<i>` towards LAN host `i`.
    pub lan_ports: Vec<String>,
}

/// Configures a [`Lab`]; from [`Lab::builder`].
#[derive(Clone, Debug)]
pub struct LabBuilder {
    lan_hosts: usize,
    wan_net: Ipv4Addr,
    ipv6: bool,
    echo: bool,
    masquerade: bool,
}

impl Default for LabBuilder {
    fn default() -> Self {
        LabBuilder {
            lan_hosts: 1,
            wan_net: WAN_TEST_NET,
            ipv6: false,
            echo: true,
            masquerade: true,
        }
    }
}

fn host_in(net: Ipv4Addr, last: u8) -> Ipv4Addr {
    let [a, b, c, _] = net.octets();
    Ipv4Addr::new(a, b, c, last)
}

fn host_in6(net: Ipv6Addr, last: u16) -> Ipv6Addr {
    let mut s = net.segments();
    s[7] = last;
    Ipv6Addr::from(s)
}

/// How long [`LabBuilder::build`] waits for every link's carrier.
const LINK_UP_TIMEOUT: Duration = Duration::from_secs(5);

/// Wait until every interface of `ns` but loopback reports operstate UP (the kernel applies
/// carrier changes asynchronously; traffic sent before is dropped).
fn wait_links_up(ns: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + LINK_UP_TIMEOUT;
    loop {
        let out = process::run(ns, &["ip", "-o", "link", "show"], None, LINK_UP_TIMEOUT)?;
        let text = String::from_utf8_lossy(&out.stdout);
        let down: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("LOOPBACK") && !l.contains("state UP"))
            .collect();
        if out.status.success() && down.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(LabError::Timeout {
                what: format!("links of {ns} to come up"),
                after: LINK_UP_TIMEOUT,
                output: text.into_owned(),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl LabBuilder {
    /// Number of LAN hosts (default 1, at most [`MAX_LAN_HOSTS`]).
    pub fn lan_hosts(mut self, n: usize) -> Self {
        self.lan_hosts = n;
        self
    }

    /// The WAN /24 (its first three octets count): gateway gets `.1`, the WAN host `.2`.
    /// Default [`WAN_TEST_NET`].
    pub fn wan_net(mut self, net: Ipv4Addr) -> Self {
        self.wan_net = net;
        self
    }

    /// Use [`WAN_UNRESERVED_NET`] for the WAN, for runs against Debian's miniupnpd.
    pub fn wan_unreserved(self) -> Self {
        self.wan_net(WAN_UNRESERVED_NET)
    }

    /// Add IPv6: [`LAN_NET_V6`] and [`WAN_NET_V6`] addresses (no DAD), IPv6 forwarding in the
    /// gateway, routes both ways; no NAT66.
    pub fn ipv6(mut self, on: bool) -> Self {
        self.ipv6 = on;
        self
    }

    /// Print background processes' output lines to stderr as they arrive (default on; libtest
    /// only shows them for failing tests).
    pub fn echo(mut self, on: bool) -> Self {
        self.echo = on;
        self
    }

    /// Install the gateway's masquerade rule (default on).
    pub fn masquerade(mut self, on: bool) -> Self {
        self.masquerade = on;
        self
    }

    /// Build the lab. Cleans leftovers of dead runs first. On error, whatever was created is
    /// torn down again.
    pub fn build(self) -> Result<Lab> {
        if self.lan_hosts > MAX_LAN_HOSTS {
            return Err(LabError::Unavailable(format!(
                "{} LAN hosts asked, at most {MAX_LAN_HOSTS}",
                self.lan_hosts
            )));
        }
        netns::clean_leftovers();
        let id = netns::next_lab_id();
        let v6 = |net, last| self.ipv6.then(|| host_in6(net, last));
        let gateway = GatewayNet {
            netns: format!("{id}{}", Host::Gateway),
            lan: Iface {
                name: GATEWAY_LAN_IF.into(),
                ipv4: host_in(LAN_NET_V4, 1),
                ipv4_prefix: 24,
                ipv6: v6(LAN_NET_V6, 1),
            },
            wan: Iface {
                name: GATEWAY_WAN_IF.into(),
                ipv4: host_in(self.wan_net, 1),
                ipv4_prefix: 24,
                ipv6: v6(WAN_NET_V6, 1),
            },
            lan_ports: (0..self.lan_hosts).map(|i| format!("lan{i}")).collect(),
        };
        let lans = (0..self.lan_hosts)
            .map(|i| HostNet {
                netns: format!("{id}{}", Host::Lan(i)),
                iface: Iface {
                    name: HOST_IF.into(),
                    // MAX_LAN_HOSTS keeps i + 2 within a u8.
                    ipv4: host_in(LAN_NET_V4, (i + 2) as u8),
                    ipv4_prefix: 24,
                    ipv6: v6(LAN_NET_V6, (i + 2) as u16),
                },
            })
            .collect();
        let wan = HostNet {
            netns: format!("{id}{}", Host::Wan),
            iface: Iface {
                name: HOST_IF.into(),
                ipv4: host_in(self.wan_net, 2),
                ipv4_prefix: 24,
                ipv6: v6(WAN_NET_V6, 2),
            },
        };
        let mut lab = Lab {
            id,
            gateway,
            lans,
            wan,
            ipv6: self.ipv6,
            echo: self.echo,
            created: Vec::new(),
            procs: Arc::new(Mutex::new(Vec::new())),
        };
        lab.setup(self.masquerade)?;
        Ok(lab)
    }

    /// [`Lab::require`] then [`LabBuilder::build`]: `Ok(None)` when the lab must be skipped
    /// (outside CI, not root), so a test can `let Some(lab) = ... else { return Ok(()) };`.
    pub fn build_or_skip(self) -> Result<Option<Lab>> {
        if !crate::require() {
            return Ok(None);
        }
        self.build().map(Some)
    }
}

/// A network built from namespaces: LAN host(s) — gateway — WAN host.
///
/// ```text
///  l0 eth0 10.77.0.2 ─┐
///  l1 eth0 10.77.0.3 ─┤ lan0, lan1 … in br-lan 10.77.0.1 ┃ gw ┃ wan0 203.0.113.1 ── eth0 203.0.113.2 wan
/// ```
///
/// The gateway forwards (IPv4 and, with IPv6, IPv6) and masquerades LAN traffic leaving
/// `wan0` (nft table `ip lab`); LAN hosts route through it; its default route points at the
/// WAN host. Dropping the lab kills every process started in it and deletes its namespaces,
/// also while a test panics.
pub struct Lab {
    id: String,
    gateway: GatewayNet,
    lans: Vec<HostNet>,
    wan: HostNet,
    ipv6: bool,
    echo: bool,
    created: Vec<String>,
    procs: Registry,
}

impl fmt::Debug for Lab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lab")
            .field("id", &self.id)
            .field("gateway", &self.gateway)
            .field("lans", &self.lans)
            .field("wan", &self.wan)
            .finish()
    }
}

impl Lab {
    /// A builder with the defaults: one LAN host, WAN [`WAN_TEST_NET`], IPv4 only.
    pub fn builder() -> LabBuilder {
        LabBuilder::default()
    }

    /// See [`crate::require`].
    pub fn require() -> bool {
        crate::require()
    }

    fn setup(&mut self, masquerade: bool) -> Result<()> {
        let gw = self.gateway.netns.clone();
        let wan = self.wan.netns.clone();
        let mut all = vec![gw.clone(), wan.clone()];
        all.extend(self.lans.iter().map(|h| h.netns.clone()));
        for ns in &all {
            netns::ip(&["netns", "add", ns])?;
            self.created.push(ns.clone());
            if self.ipv6 {
                // New interfaces inherit "default": no duplicate address detection anywhere.
                self.write_sysctl(ns, "net/ipv6/conf/all/accept_dad", "0")?;
                self.write_sysctl(ns, "net/ipv6/conf/default/accept_dad", "0")?;
            }
            netns::ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }

        // Links, created directly inside their namespaces. Order matters: the kernel delays
        // the carrier of a veth whose peer has the same ifindex (in its own namespace) by up
        // to a second, so the gateway's interfaces are created after the bridge to get
        // indexes 3.. while every host's eth0 is 2.
        netns::ip(&[
            "-n",
            &gw,
            "link",
            "add",
            GATEWAY_LAN_IF,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        let lans = self.lans.clone();
        for (host, port) in lans.iter().zip(self.gateway.lan_ports.clone()) {
            netns::ip(&[
                "link",
                "add",
                &port,
                "netns",
                &gw,
                "type",
                "veth",
                "peer",
                "name",
                HOST_IF,
                "netns",
                &host.netns,
            ])?;
            netns::ip(&[
                "-n",
                &gw,
                "link",
                "set",
                &port,
                "master",
                GATEWAY_LAN_IF,
                "up",
            ])?;
        }

        netns::ip(&[
            "link",
            "add",
            GATEWAY_WAN_IF,
            "netns",
            &gw,
            "type",
            "veth",
            "peer",
            "name",
            HOST_IF,
            "netns",
            &wan,
        ])?;

        // Addresses and routes.
        let g = self.gateway.clone();
        self.address(&gw, &g.lan)?;
        self.address(&gw, &g.wan)?;
        for host in lans.iter().chain(std::iter::once(&self.wan.clone())) {
            self.address(&host.netns, &host.iface)?;
        }
        let gw_lan4 = g.lan.ipv4.to_string();
        for host in &lans {
            netns::ip(&[
                "-n",
                &host.netns,
                "route",
                "add",
                "default",
                "via",
                &gw_lan4,
            ])?;
        }
        let wan4 = self.wan.iface.ipv4.to_string();
        netns::ip(&["-n", &gw, "route", "add", "default", "via", &wan4])?;
        if let (Some(gw_lan6), Some(gw_wan6), Some(wan6)) =
            (g.lan.ipv6, g.wan.ipv6, self.wan.iface.ipv6)
        {
            for host in &lans {
                netns::ip(&[
                    "-n",
                    &host.netns,
                    "-6",
                    "route",
                    "add",
                    "default",
                    "via",
                    &gw_lan6.to_string(),
                ])?;
            }
            netns::ip(&[
                "-n",
                &gw,
                "-6",
                "route",
                "add",
                "default",
                "via",
                &wan6.to_string(),
            ])?;
            netns::ip(&[
                "-n",
                &wan,
                "-6",
                "route",
                "add",
                &format!("{LAN_NET_V6}/64"),
                "via",
                &gw_wan6.to_string(),
            ])?;
        }

        for ns in &all {
            wait_links_up(ns)?;
        }

        // Forwarding and NAT in the gateway.
        self.write_sysctl(&gw, "net/ipv4/ip_forward", "1")?;
        if self.ipv6 {
            self.write_sysctl(&gw, "net/ipv6/conf/all/forwarding", "1")?;
        }
        if masquerade {
            self.nft(
                Host::Gateway,
                &format!(
                    "table ip {LAB_NFT_TABLE} {{\n\
                     \tchain postrouting {{\n\
                     \t\ttype nat hook postrouting priority 100; policy accept;\n\
                     \t\toifname \"{GATEWAY_WAN_IF}\" masquerade\n\
                     \t}}\n\
                     }}\n"
                ),
            )?;
        }
        Ok(())
    }

    fn address(&self, ns: &str, iface: &Iface) -> Result<()> {
        let v4 = format!("{}/{}", iface.ipv4, iface.ipv4_prefix);
        netns::ip(&["-n", ns, "addr", "add", &v4, "dev", &iface.name])?;
        if let Some(v6) = iface.ipv6 {
            let v6 = format!("{v6}/64");
            netns::ip(&["-n", ns, "addr", "add", &v6, "dev", &iface.name, "nodad"])?;
        }
        netns::ip(&["-n", ns, "link", "set", &iface.name, "up"])
    }

    /// Write `/proc/sys/<key>` (slash-separated) as seen from namespace `ns`.
    fn write_sysctl(&self, ns: &str, key: &str, value: &str) -> Result<()> {
        let path = format!("/proc/sys/{key}");
        let ns_owned = ns.to_owned();
        let value = value.to_owned();
        let path2 = path.clone();
        std::thread::scope(|s| {
            s.spawn(move || -> Result<()> {
                netns::enter_netns(&ns_owned)?;
                std::fs::write(&path2, value)
                    .map_err(|e| LabError::io(format!("write {path2} in {ns_owned}"), e))
            })
            .join()
            .unwrap_or_else(|_| {
                Err(LabError::Unavailable(format!(
                    "thread writing {path} panicked"
                )))
            })
        })
    }

    /// This lab's id, the common prefix of its namespace names (`pg<pid>n<counter>`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Names of the namespaces this lab created.
    pub fn namespaces(&self) -> &[String] {
        &self.created
    }

    /// The gateway's description.
    pub fn gateway(&self) -> &GatewayNet {
        &self.gateway
    }

    /// The LAN hosts' descriptions, index = `Host::Lan` index.
    pub fn lan_hosts(&self) -> &[HostNet] {
        &self.lans
    }

    /// The WAN host's description.
    pub fn wan_host(&self) -> &HostNet {
        &self.wan
    }

    /// Whether the lab has IPv6 addresses.
    pub fn has_ipv6(&self) -> bool {
        self.ipv6
    }

    fn lan(&self, i: usize) -> &HostNet {
        match self.lans.get(i) {
            Some(h) => h,
            None => panic!(
                "Host::Lan({i}) asked of a lab with {} LAN host(s)",
                self.lans.len()
            ),
        }
    }

    /// The namespace name of `host`.
    ///
    /// # Panics
    /// For `Host::Lan(i)` beyond the lab's LAN hosts (a test bug).
    pub fn netns(&self, host: Host) -> &str {
        match host {
            Host::Gateway => &self.gateway.netns,
            Host::Lan(i) => &self.lan(i).netns,
            Host::Wan => &self.wan.netns,
        }
    }

    /// The interface a host talks to its neighbours on; for the gateway its LAN bridge.
    ///
    /// # Panics
    /// As [`Lab::netns`].
    pub fn iface(&self, host: Host) -> &Iface {
        match host {
            Host::Gateway => &self.gateway.lan,
            Host::Lan(i) => &self.lan(i).iface,
            Host::Wan => &self.wan.iface,
        }
    }

    /// IPv4 address of `host`; for the gateway its LAN-side address (see
    /// [`Lab::external_ipv4`] for the WAN side).
    ///
    /// # Panics
    /// As [`Lab::netns`].
    pub fn ipv4(&self, host: Host) -> Ipv4Addr {
        self.iface(host).ipv4
    }

    /// IPv6 address of `host` (gateway: LAN side), when the lab has IPv6.
    ///
    /// # Panics
    /// As [`Lab::netns`].
    pub fn ipv6(&self, host: Host) -> Option<Ipv6Addr> {
        self.iface(host).ipv6
    }

    /// Interface name of `host` (gateway: [`GATEWAY_LAN_IF`]).
    ///
    /// # Panics
    /// As [`Lab::netns`].
    pub fn ifname(&self, host: Host) -> &str {
        &self.iface(host).name
    }

    /// The gateway's WAN address: the external address mappings are made on.
    pub fn external_ipv4(&self) -> Ipv4Addr {
        self.gateway.wan.ipv4
    }

    /// The gateway's WAN-side IPv6 address, when the lab has IPv6.
    pub fn external_ipv6(&self) -> Option<Ipv6Addr> {
        self.gateway.wan.ipv6
    }

    /// Every address of `host`, for messages.
    pub fn addresses(&self, host: Host) -> Vec<IpAddr> {
        let ifaces: Vec<&Iface> = match host {
            Host::Gateway => vec![&self.gateway.lan, &self.gateway.wan],
            other => vec![self.iface(other)],
        };
        ifaces
            .into_iter()
            .flat_map(|i| std::iter::once(IpAddr::V4(i.ipv4)).chain(i.ipv6.map(IpAddr::V6)))
            .collect()
    }

    /// Every host of the lab: gateway, LAN hosts, WAN host.
    pub fn hosts(&self) -> Vec<Host> {
        let mut hosts = vec![Host::Gateway];
        hosts.extend((0..self.lans.len()).map(Host::Lan));
        hosts.push(Host::Wan);
        hosts
    }

    /// Run a command in `host` and return its output; an unsuccessful exit is an error
    /// ([`LabError::CommandFailed`] with stdout and stderr). Limited to
    /// [`DEFAULT_EXEC_TIMEOUT`].
    pub fn exec<S: AsRef<OsStr>>(&self, host: Host, args: &[S]) -> Result<Output> {
        self.exec_timeout(host, args, DEFAULT_EXEC_TIMEOUT)
    }

    /// [`Lab::exec`] with a time limit of your choice.
    pub fn exec_timeout<S: AsRef<OsStr>>(
        &self,
        host: Host,
        args: &[S],
        timeout: Duration,
    ) -> Result<Output> {
        let out = process::run(self.netns(host), args, None, timeout)?;
        self.check(host, args, out)
    }

    /// Run a command in `host` and return its output whatever its exit status.
    pub fn exec_unchecked<S: AsRef<OsStr>>(&self, host: Host, args: &[S]) -> Result<Output> {
        process::run(self.netns(host), args, None, DEFAULT_EXEC_TIMEOUT)
    }

    /// Run a command in `host` with `input` on its standard input; checked like
    /// [`Lab::exec`].
    pub fn exec_stdin<S: AsRef<OsStr>>(
        &self,
        host: Host,
        args: &[S],
        input: &[u8],
    ) -> Result<Output> {
        let out = process::run(self.netns(host), args, Some(input), DEFAULT_EXEC_TIMEOUT)?;
        self.check(host, args, out)
    }

    /// Run `cmd` with `sh -c` in `host` and return its stdout (checked like [`Lab::exec`]).
    pub fn sh(&self, host: Host, cmd: &str) -> Result<String> {
        let out = self.exec(host, &["sh", "-c", cmd])?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn check<S: AsRef<OsStr>>(&self, host: Host, args: &[S], out: Output) -> Result<Output> {
        if out.status.success() {
            Ok(out)
        } else {
            Err(LabError::CommandFailed {
                netns: self.netns(host).to_owned(),
                command: process::display_command(args),
                status: out.status.to_string(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }

    /// Load an nftables script (`nft -f -`) in `host`.
    pub fn nft(&self, host: Host, script: &str) -> Result<()> {
        self.exec_stdin(host, &["nft", "-f", "-"], script.as_bytes())
            .map(drop)
    }

    /// The gateway's ruleset as `nft list ruleset` prints it.
    pub fn nft_ruleset(&self) -> Result<String> {
        let out = self.exec(Host::Gateway, &["nft", "list", "ruleset"])?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Drops and counts every UDP datagram `host` sends to `port`, with an nftables table
    /// of its own in `host`'s namespace: proof that a program did not send (say, did not
    /// multicast an SSDP search). Read the count with [`Lab::blocked_udp_out`].
    pub fn block_udp_out(&self, host: Host, port: u16) -> Result<()> {
        self.nft(
            host,
            &format!(
                "table inet {GUARD_TABLE} {{\n\
                 \tcounter blocked {{ }}\n\
                 \tchain out {{\n\
                 \t\ttype filter hook output priority 0; policy accept;\n\
                 \t\tudp dport {port} counter name \"blocked\" drop\n\
                 \t}}\n\
                 }}\n"
            ),
        )
    }

    /// Datagrams `host` has sent (and had dropped) since [`Lab::block_udp_out`].
    pub fn blocked_udp_out(&self, host: Host) -> Result<u64> {
        let out = self.exec(
            host,
            &["nft", "list", "counter", "inet", GUARD_TABLE, "blocked"],
        )?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split("packets ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| LabError::Io {
                context: "reading the blocked-datagram counter".into(),
                source: std::io::Error::other(format!("no packet count in {text}")),
            })
    }

    /// Create, in the gateway, the nftables skeleton Debian's miniupnpd-nftables expects
    /// (docs/design.md): table `inet filter` with a forward chain (policy drop; established and
    /// LAN-in accepted; jump `miniupnpd`), nat prerouting/postrouting base chains jumping to
    /// `prerouting_miniupnpd`/`postrouting_miniupnpd`, and those three regular chains.
    pub fn install_miniupnpd_skeleton(&self) -> Result<()> {
        self.nft(
            Host::Gateway,
            &format!(
                "table inet filter {{\n\
                 \tchain miniupnpd {{ }}\n\
                 \tchain prerouting_miniupnpd {{ }}\n\
                 \tchain postrouting_miniupnpd {{ }}\n\
                 \tchain forward {{\n\
                 \t\ttype filter hook forward priority 0; policy drop;\n\
                 \t\tct state established,related accept\n\
                 \t\tiifname \"{GATEWAY_LAN_IF}\" accept\n\
                 \t\tjump miniupnpd\n\
                 \t}}\n\
                 \tchain prerouting {{\n\
                 \t\ttype nat hook prerouting priority -100; policy accept;\n\
                 \t\tjump prerouting_miniupnpd\n\
                 \t}}\n\
                 \tchain postrouting {{\n\
                 \t\ttype nat hook postrouting priority 100; policy accept;\n\
                 \t\tjump postrouting_miniupnpd\n\
                 \t}}\n\
                 }}\n"
            ),
        )
    }

    /// Start a background process in `host`. Its output is captured (and echoed); the
    /// returned guard kills its process group when dropped.
    pub fn spawn<S: AsRef<OsStr>>(&self, host: Host, args: &[S]) -> Result<Proc> {
        Proc::spawn(
            self.netns(host),
            &host.to_string(),
            args,
            self.echo,
            &self.procs,
        )
    }

    /// Start a daemon in `host` and return once a line of its stdout or stderr contains
    /// `ready` (e.g. `"listening on"`) — no sleeps. On timeout or early exit the error
    /// carries everything the daemon printed. Output keeps being captured afterwards.
    pub fn spawn_daemon<S: AsRef<OsStr>>(
        &self,
        host: Host,
        args: &[S],
        ready: &str,
        timeout: Duration,
    ) -> Result<Proc> {
        let proc = self.spawn(host, args)?;
        proc.wait_for(ready, timeout)?;
        Ok(proc)
    }

    /// Run `f` on a new thread that has entered `host`'s network namespace: sockets it opens
    /// belong to that host (and keep belonging to it when handed back). Panics in `f` are
    /// propagated.
    pub fn in_netns<F, T>(&self, host: Host, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let ns = self.netns(host);
        std::thread::scope(|s| {
            let handle = s.spawn(move || -> Result<T> {
                netns::enter_netns(ns)?;
                Ok(f())
            });
            match handle.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let groups: Vec<i32> = self
            .procs
            .lock()
            .map(|g| g.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone());
        for pgid in groups {
            process::signal_group(pgid, rustix::process::Signal::KILL);
        }
        for ns in self.created.iter().rev() {
            netns::kill_and_delete(ns);
        }
    }
}
