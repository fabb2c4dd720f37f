//! Discovery asks the MiniSSDPd socket first: with portgate-ssdpd (MiniSSDPd's protocol)
//! on the LAN host knowing the gateway and every UDP datagram to port 1900 dropped and
//! counted, Debian's `upnpc -p SOCKET` on our library still finds the gateway and maps
//! through it, and sends no SSDP datagram.

#[path = "../../portgate-natpmp-c/tests/common/mod.rs"]
mod common;
#[path = "setup/mod.rs"]
mod setup;

use portgate_lab::Host;

#[test]
fn upnpc_finds_the_gateway_through_the_cache_daemon_without_multicast() -> anyhow::Result<()> {
    let Some(s) = setup::setup("minissdpd")? else {
        return Ok(());
    };
    let (_ssdpd, sock_s) = s.start_ssdpd()?;
    let location = s.location();
    s.lab.block_udp_out(Host::Lan(0), 1900)?;

    let lan = s.lan();
    let out = s.ours(&["upnpc", "-p", &sock_s, "-a", &lan, "8170", "8170", "TCP"])?;
    assert!(out.contains(&format!(" desc: {location}")), "{out}");
    assert!(out.contains("is redirected to internal"), "{out}");
    assert!(s.tcp_reaches(8170, 8170)?, "the mapping does not forward");
    assert_eq!(
        s.lab.blocked_udp_out(Host::Lan(0))?,
        0,
        "our library sent SSDP datagrams"
    );

    // Control: with nothing at the socket path, our library searches by SSDP (the
    // datagrams are counted and dropped) and finds nothing.
    let out = s.ours(&["upnpc", "-p", "/nonexistent/minissdpd.sock", "-s"])?;
    assert!(!out.contains("Found valid IGD"), "{out}");
    assert!(
        s.lab.blocked_udp_out(Host::Lan(0))? > 0,
        "no SSDP search without the cache daemon"
    );
    Ok(())
}
