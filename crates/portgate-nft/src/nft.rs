//! The kernel backend: nf_tables messages for our table, chains, maps, rules and
//! elements, sent over a netfilter netlink socket.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use tracing::{debug, trace};

use crate::netlink::{
    self, attrs, be_u64, AttrWriter, Batch, NlSocket, NFGEN_LEN, NLMSG_DONE, NLMSG_ERROR,
    NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP,
};
use crate::types::{
    decode_fwd4_data, decode_fwd4_key, decode_fwd4c_key, decode_pin6_key, fwd4_data, fwd4_key,
    fwd4c_key, fwd4r_key, pin6_key, Change, Mapping, MappingEntry, Pinhole, PinholeEntry,
    PinholeKey,
};
use crate::{Firewall, FirewallError, ReconcileReport};

// Message types (enum nf_tables_msg_types).
const NFT_MSG_NEWTABLE: u8 = 0;
const NFT_MSG_DELTABLE: u8 = 2;
const NFT_MSG_NEWCHAIN: u8 = 3;
const NFT_MSG_NEWRULE: u8 = 6;
const NFT_MSG_GETRULE: u8 = 7;
const NFT_MSG_DELRULE: u8 = 8;
const NFT_MSG_NEWSET: u8 = 9;
const NFT_MSG_GETSET: u8 = 10;
const NFT_MSG_DELSET: u8 = 11;
const NFT_MSG_NEWSETELEM: u8 = 12;
const NFT_MSG_GETSETELEM: u8 = 13;
const NFT_MSG_DELSETELEM: u8 = 14;
/// Linux 6.3+: like DELRULE but an absent rule is not an error.
const NFT_MSG_DESTROYRULE: u8 = 28;
/// Linux 6.3+: like DELSET but an absent set is not an error.
const NFT_MSG_DESTROYSET: u8 = 29;
/// Linux 6.3+: like DELSETELEM but an absent element is not an error.
const NFT_MSG_DESTROYSETELEM: u8 = 30;

const ENOENT: i32 = 2;
const EINVAL: i32 = 22;
const EOPNOTSUPP: i32 = 95;

const NFPROTO_INET: u8 = 1;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

// Attributes.
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_RULE_USERDATA: u16 = 7;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_DATA_TYPE: u16 = 6;
const NFTA_SET_DATA_LEN: u16 = 7;
const NFTA_SET_DESC: u16 = 9;
const NFTA_SET_DESC_SIZE: u16 = 1;
const NFTA_SET_ID: u16 = 10;
const NFTA_SET_TIMEOUT: u16 = 11;
const NFTA_SET_EXPR: u16 = 17;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
const NFTA_SET_ELEM_EXPIRATION: u16 = 5;
const NFTA_SET_ELEM_EXPR: u16 = 7;
const NFTA_SET_ELEM_EXPRESSIONS: u16 = 11;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_COUNTER_BYTES: u16 = 1;
const NFTA_COUNTER_PACKETS: u16 = 2;

const NFT_SET_MAP: u32 = 0x8;
const NFT_SET_TIMEOUT: u32 = 0x10;
/// `NFT_SET_EVAL`: a dynamic set, updated from the packet path (`update @set { ... }`).
const NFT_SET_EVAL: u32 = 0x20;

// nft's datatype numbers (userspace datatype.h), stored in the set for `nft list`;
// a concatenation packs them 6 bits apart, first component highest.
const TYPE_IPADDR: u32 = 7;
const TYPE_IP6ADDR: u32 = 8;
const TYPE_INET_PROTOCOL: u32 = 12;
const TYPE_INET_SERVICE: u32 = 13;
const fn concat(types: &[u32]) -> u32 {
    let mut t = 0;
    let mut i = 0;
    while i < types.len() {
        t = (t << 6) | types[i];
        i += 1;
    }
    t
}

const NF_INET_PRE_ROUTING: u32 = 0;
const NF_INET_LOCAL_IN: u32 = 1;
const NF_INET_FORWARD: u32 = 2;
const NF_INET_POST_ROUTING: u32 = 4;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;

// 32-bit registers.
const R0: u32 = 8;
const R_VERDICT: u32 = 0;

const CHAIN_PREROUTING: &str = "prerouting";
const CHAIN_FORWARD: &str = "forward";
const CHAIN_POSTROUTING: &str = "postrouting";
const CHAIN_INPUT: &str = "input";
/// The per-source meters of [`RequestLimit`]: IPv4 and IPv6 sources.
const METER4: &str = "req_rate4";
const METER6: &str = "req_rate6";

/// Rule user data marking our rules: the nftables comment TLV (`NFTNL_UDATA_RULE_COMMENT`
/// = 0, length 9, "portgate" and its NUL), so `nft list` shows `comment "portgate"` and we
/// can find (and remove only) our rules in chains we share with the admin.
const OUR_RULE_UDATA: &[u8] = b"\x00\x09portgate\x00";

/// A message the kernel refused in a batch.
#[derive(Debug, Clone, Copy)]
struct Refusal {
    seq: u32,
    errno: i32,
    what: &'static str,
    absent_ok: bool,
}

/// What kind of object a deletion removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Del {
    Rule,
    Set,
    SetElem,
}

/// What the running kernel's nf_tables can do, as probed by [`Firewall::init`]
/// (see [`NftFirewall::features`]). Each missing feature has a fallback; what can not
/// be done without (element timeouts, NAT maps, inet NAT chains) makes `init` fail with
/// [`FirewallError::Unsupported`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelFeatures {
    /// `NFT_MSG_DESTROY*` (Linux 6.3 and later): a deletion of an absent object
    /// succeeds. Without them deletions use `NFT_MSG_DEL*`, and a batch refused only
    /// because an element was already gone (expired) is sent again without that
    /// deletion: the same outcome in two round trips instead of one.
    pub destroy: bool,
    /// Adding an existing element again updates its timeout in place and keeps its
    /// counters (Linux 6.12 and later). Without it a refresh deletes and re-adds the
    /// element in one transaction: traffic never sees a gap, the counters restart.
    pub in_place_refresh: bool,
    /// Elements the daemon adds get the set's counter (per-mapping packet and byte
    /// counts, used by idle cleaning and `CheckPinholeWorking`).
    pub element_counters: bool,
}

/// One of our maps/sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetId {
    /// IPv4 mappings without a remote host.
    Fwd4,
    /// IPv4 mappings restricted to one remote host.
    Fwd4r,
    /// IPv4 mappings of one external address (CGN mode's address pool).
    Fwd4c,
    /// IPv6 pinholes without a remote host.
    Pin6,
    /// IPv6 pinholes restricted to one remote host.
    Pin6r,
    /// IPv6 pinholes restricted to one remote port (any remote host).
    Pin6p,
    /// IPv6 pinholes restricted to one remote host and port.
    Pin6rp,
}

impl SetId {
    const ALL: [SetId; 7] = [
        SetId::Fwd4,
        SetId::Fwd4r,
        SetId::Fwd4c,
        SetId::Pin6,
        SetId::Pin6r,
        SetId::Pin6p,
        SetId::Pin6rp,
    ];

    /// The pinhole set holding `k` (see [`pin6_key`]).
    fn of_pinhole(k: &PinholeKey) -> SetId {
        match (k.remote.is_some(), k.remote_port != 0) {
            (false, false) => SetId::Pin6,
            (true, false) => SetId::Pin6r,
            (false, true) => SetId::Pin6p,
            (true, true) => SetId::Pin6rp,
        }
    }

    /// The name in our own table, and the (prefixed) name in an admin's table.
    fn name(self, layout: bool) -> &'static str {
        match (self, layout) {
            (SetId::Fwd4, false) => "fwd4",
            (SetId::Fwd4r, false) => "fwd4r",
            (SetId::Fwd4c, false) => "fwd4c",
            (SetId::Pin6, false) => "pin6",
            (SetId::Pin6r, false) => "pin6r",
            (SetId::Pin6p, false) => "pin6p",
            (SetId::Pin6rp, false) => "pin6rp",
            (SetId::Fwd4, true) => "portgate_fwd4",
            (SetId::Fwd4r, true) => "portgate_fwd4r",
            (SetId::Fwd4c, true) => "portgate_fwd4c",
            (SetId::Pin6, true) => "portgate_pin6",
            (SetId::Pin6r, true) => "portgate_pin6r",
            (SetId::Pin6p, true) => "portgate_pin6p",
            (SetId::Pin6rp, true) => "portgate_pin6rp",
        }
    }

    fn is_v4(self) -> bool {
        matches!(self, SetId::Fwd4 | SetId::Fwd4r | SetId::Fwd4c)
    }
}

/// The miniupnpd layout: the admin's firewall owns the tables and the base chains, which
/// jump to regular chains reserved for the UPnP daemon (miniupnpd's `upnp_table_name`,
/// `upnp_nat_table_name`, `upnp_forward_chain`, `upnp_nat_chain`,
/// `upnp_nat_postrouting_chain`, `upnp_nftables_family_split`). We create no table and
/// no chain: our maps and sets are added to those tables and our rules appended to those
/// chains (tagged `comment "portgate"`); shutdown removes exactly those.
///
/// ```text
/// table inet filter {                    # the admin's
///   map portgate_fwd4 { ... }  map portgate_fwd4r { ... }  map portgate_fwd4c { ... }
///   set portgate_pin6 ...
///   chain prerouting_miniupnpd {         # nat_chain
///     iifname "eth0" meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @portgate_fwd4c
///     iifname "eth0" meta nfproto ipv4 dnat ip to ip saddr . meta l4proto . th dport map @portgate_fwd4r
///     iifname "eth0" meta nfproto ipv4 dnat ip to meta l4proto . th dport map @portgate_fwd4
///   }
///   chain miniupnpd {                    # forward_chain
///     iifname "eth0" ct status dnat accept
///     iifname "eth0" ip6 daddr . meta l4proto . th dport @portgate_pin6 accept
///     iifname "eth0" ip6 saddr . ip6 daddr . meta l4proto . th dport @portgate_pin6r accept
///   }
///   chain postrouting_miniupnpd { }      # hairpin masquerade rules, when enabled
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftLayout {
    /// Filter table holding `forward_chain` (and the IPv6 pinhole sets); miniupnpd's
    /// default `filter`.
    pub table: String,
    /// Nat table holding `nat_chain`, `postrouting_chain` and the IPv4 maps; miniupnpd's
    /// default is the same table as `table`.
    pub nat_table: String,
    /// `false`: the tables are family `inet`. `true` (miniupnpd's
    /// `upnp_nftables_family_split`): IPv4 objects in family `ip` tables, IPv6 pinholes in
    /// the family `ip6` table named `table`.
    pub family_split: bool,
    /// Regular chain the admin's forward base chain jumps to (default `miniupnpd`).
    pub forward_chain: String,
    /// Regular chain the admin's nat prerouting base chain jumps to (default
    /// `prerouting_miniupnpd`).
    pub nat_chain: String,
    /// Regular chain the admin's nat postrouting base chain jumps to (default
    /// `postrouting_miniupnpd`); only used for hairpin rules.
    pub postrouting_chain: String,
}

impl Default for NftLayout {
    /// miniupnpd's defaults: table `inet filter`, chains `miniupnpd`,
    /// `prerouting_miniupnpd`, `postrouting_miniupnpd`.
    fn default() -> Self {
        NftLayout {
            table: "filter".to_owned(),
            nat_table: "filter".to_owned(),
            family_split: false,
            forward_chain: "miniupnpd".to_owned(),
            nat_chain: "prerouting_miniupnpd".to_owned(),
            postrouting_chain: "postrouting_miniupnpd".to_owned(),
        }
    }
}

/// Hairpin (NAT loopback): a LAN host reaching a mapping through the external address
/// lands on the mapped LAN host, its source masqueraded to the gateway so the answer
/// comes back the same way.
///
/// ```text
/// prerouting:  iifname != "eth0" ip daddr EXTERNAL dnat ip to meta l4proto . th dport map @fwd4
/// postrouting: ip saddr LAN/P ip daddr LAN/P ct status dnat masquerade   # per LAN network
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hairpin {
    /// The external IPv4 address LAN hosts use (call [`Firewall::init`] again after
    /// changing it: the rules are rebuilt).
    pub external: Ipv4Addr,
    /// The LAN networks (address, prefix length) whose hairpinned connections are
    /// masqueraded.
    pub lan: Vec<(Ipv4Addr, u8)>,
}

/// A per-source request rate enforced by the kernel in front of a local UDP port (the
/// daemon's 5351): datagrams a source sends past `rate` per second (with a bucket of
/// `burst`) are dropped before any socket sees them, so one flooding client cannot fill
/// the daemon's socket queue and crowd the others out.
///
/// ```text
/// set req_rate4 { type ipv4_addr; size SOURCES; flags dynamic,timeout; timeout 10s; }
/// set req_rate6 { type ipv6_addr; size SOURCES; flags dynamic,timeout; timeout 10s; }
/// chain input { type filter hook input priority filter; policy accept;
///   meta nfproto ipv4 meta l4proto udp udp dport PORT
///     update @req_rate4 { ip saddr limit rate over RATE/second burst BURST packets } drop
///   meta nfproto ipv6 meta l4proto udp udp dport PORT
///     update @req_rate6 { ip6 saddr limit rate over RATE/second burst BURST packets } drop
/// }
/// ```
///
/// The input hook sees exactly the datagrams addressed to the gateway's own addresses
/// (prerouting would also see those forwarded to a LAN host's port 5351). A source
/// silent for the set's timeout leaves the set (its bucket would be full again by
/// then). When the set holds `sources` sources, new ones are not limited (the kernel's
/// update fails and the rule does not match) until old ones time out: the limit fails
/// open, never closed. Dynamic sets updated from the packet path with a stateful
/// `limit` per element predate the 5.10 floor (see the crate documentation).
///
/// It lives in our own table, also in the miniupnpd layout (whose reserved chains are
/// a forward chain and nat chains, none of which sees datagrams to the gateway itself):
/// there the table [`NftConfig::table`] holds only this chain and its sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimit {
    /// The local UDP port guarded (PCP/NAT-PMP's 5351).
    pub port: u16,
    /// Datagrams per second one source may send (at least 1).
    pub rate: u32,
    /// Datagrams one source may send at once before the rate applies (at least 1).
    pub burst: u32,
    /// Most sources tracked at once (the sets' size).
    pub sources: u32,
}

/// How long a source stays in a [`RequestLimit`] set after its last datagram.
const METER_TIMEOUT: Duration = Duration::from_secs(10);

/// Linux `IFNAMSIZ` minus the terminating NUL.
pub const MAX_IFNAME_LEN: usize = 15;
/// Longest nftables object name (`NFT_NAME_MAXLEN` 256 including the NUL).
pub const MAX_TABLE_NAME_LEN: usize = 255;

/// How the kernel table is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftConfig {
    /// Our table's name (family inet); default `portgate`.
    pub table: String,
    /// WAN interface for IPv4 (`ext_ifname`).
    pub ext_ifname: String,
    /// WAN interface for IPv6 pinholes (`ext_ifname6`); `None` = same as `ext_ifname`.
    pub ext_ifname6: Option<String>,
    /// Standalone mode: our forward chain drops new WAN->LAN connections that are not a
    /// mapping or pinhole. Off for a gateway whose own firewall decides.
    pub standalone: bool,
}

impl NftConfig {
    /// Default layout for the WAN interface `ext_ifname`: table `portgate`, standalone.
    pub fn new(ext_ifname: impl Into<String>) -> Self {
        NftConfig {
            table: "portgate".to_owned(),
            ext_ifname: ext_ifname.into(),
            ext_ifname6: None,
            standalone: true,
        }
    }

    fn validate(&self) -> Result<(), FirewallError> {
        if self.table.is_empty()
            || self.table.len() > MAX_TABLE_NAME_LEN
            || self.table.contains('\0')
        {
            return Err(FirewallError::InvalidConfig(format!(
                "bad table name {:?}",
                self.table
            )));
        }
        for ifname in std::iter::once(&self.ext_ifname).chain(self.ext_ifname6.as_ref()) {
            if ifname.is_empty()
                || ifname.len() > MAX_IFNAME_LEN
                || ifname.contains(['\0', '/'])
                || ifname.contains(char::is_whitespace)
            {
                return Err(FirewallError::InvalidConfig(format!(
                    "bad interface name {ifname:?}"
                )));
            }
        }
        Ok(())
    }
}

/// The nftables backend: a netlink socket bound in one network namespace.
#[derive(Debug)]
pub struct NftFirewall {
    sock: NlSocket,
    seq: u32,
    cfg: NftConfig,
    layout: Option<NftLayout>,
    hairpin: Option<Hairpin>,
    limit: Option<RequestLimit>,
    /// What the kernel can do; probed by the first successful [`Firewall::init`].
    features: KernelFeatures,
    /// Whether `features` has been probed.
    probed: bool,
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= MAX_TABLE_NAME_LEN && !n.contains('\0')
}

/// Where one of our chains is and what goes in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// DNAT from the maps (and hairpin DNAT).
    Prerouting,
    /// Forward accepts for IPv4 (and, with one family, IPv6).
    Forward4,
    /// Forward accepts for IPv6 pinholes when the families are split.
    Forward6,
    /// Hairpin masquerade.
    Postrouting,
    /// The per-source request limit ([`RequestLimit`]), always in our own table.
    Input,
}

impl NftFirewall {
    /// Opens a netlink socket in the calling thread's network namespace.
    pub fn open(cfg: NftConfig) -> Result<Self, FirewallError> {
        cfg.validate()?;
        let sock = NlSocket::open()?;
        Ok(NftFirewall {
            sock,
            seq: 1,
            cfg,
            layout: None,
            hairpin: None,
            limit: None,
            features: KernelFeatures::default(),
            probed: false,
        })
    }

    /// Opens the socket inside the network namespace `netns`: a name under
    /// `/var/run/netns` (as made by `ip netns add`) or a path such as `/proc/PID/ns/net`.
    /// A socket stays in the namespace it was created in; the switch happens on a
    /// short-lived helper thread, so the caller's namespace never changes.
    pub fn open_in_netns(netns: &str, cfg: NftConfig) -> Result<Self, FirewallError> {
        cfg.validate()?;
        let sock = in_netns(netns, NlSocket::open)?;
        Ok(NftFirewall {
            sock,
            seq: 1,
            cfg,
            layout: None,
            hairpin: None,
            limit: None,
            features: KernelFeatures::default(),
            probed: false,
        })
    }

    /// Whether a refresh (a [`Change::Put`] of an existing element with the same
    /// target) updates the element in place and keeps its counters: known after
    /// [`Firewall::init`], true on Linux 6.12 and later.
    pub fn updates_in_place(&self) -> bool {
        self.features.in_place_refresh
    }

    /// What the kernel can do: meaningful after the first successful
    /// [`Firewall::init`], which probes it.
    pub fn features(&self) -> KernelFeatures {
        self.features
    }

    /// Uses only what an older kernel has, whatever this one can do: without
    /// `destroy`, deletions are `NFT_MSG_DEL*` (before Linux 6.3); without
    /// `in_place_refresh`, refreshes delete and re-add (before 6.12). For tests of
    /// those paths on a newer kernel; call it after [`Firewall::init`].
    #[doc(hidden)]
    pub fn emulate_older_kernel(&mut self, destroy: bool, in_place_refresh: bool) {
        self.features.destroy &= destroy;
        self.features.in_place_refresh &= in_place_refresh;
    }

    /// Appends a deletion of an object that may already be gone: a `DESTROY` message
    /// where the kernel has them, else a `DEL` whose `ENOENT` is tolerated.
    fn delete(
        &self,
        b: &mut Batch,
        kind: Del,
        family: u8,
        what: &'static str,
        f: impl FnOnce(&mut AttrWriter<'_>),
    ) {
        let msg = match (kind, self.features.destroy) {
            (Del::Rule, true) => NFT_MSG_DESTROYRULE,
            (Del::Set, true) => NFT_MSG_DESTROYSET,
            (Del::SetElem, true) => NFT_MSG_DESTROYSETELEM,
            (Del::Rule, false) => NFT_MSG_DELRULE,
            (Del::Set, false) => NFT_MSG_DELSET,
            (Del::SetElem, false) => NFT_MSG_DELSETELEM,
        };
        b.delete(msg, family, what, f);
    }

    /// Whether the kernel knows `NFT_MSG_DESTROYSETELEM` (Linux 6.3+): asked of a
    /// table that does not exist, so nothing can change. A kernel that knows the
    /// message looks the table up and answers `ENOENT`; an older one refuses the
    /// unknown message type with `EINVAL` (or `EOPNOTSUPP`).
    fn probe_destroy(&mut self) -> Result<bool, FirewallError> {
        let mut b = self.batch();
        let absent = "portgate-probe-absent-table";
        b.message(
            NFT_MSG_DESTROYSETELEM,
            NFPROTO_INET,
            0,
            "probe destroy",
            |w| {
                elem_list(w, absent, "probe", |w| {
                    w.nested(NFTA_SET_ELEM_KEY, |w| w.bytes(NFTA_DATA_VALUE, &[0; 8]))
                });
            },
        );
        let refused = self.send_batch(&b)?;
        match refused.first().map(|r| r.errno) {
            None | Some(ENOENT) => Ok(true),
            Some(EINVAL | EOPNOTSUPP) => Ok(false),
            Some(errno) => Err(self.map_errno(errno, "probe destroy")),
        }
    }

    /// Switches to the miniupnpd layout (`Some`): rules in the admin's chains, our
    /// maps/sets in the admin's tables, [`NftConfig::table`] and
    /// [`NftConfig::standalone`] unused; `None` goes back to our own table. Takes effect
    /// at the next [`Firewall::init`]; call it before the first one.
    pub fn set_layout(&mut self, layout: Option<NftLayout>) -> Result<(), FirewallError> {
        if let Some(l) = &layout {
            for n in [
                &l.table,
                &l.nat_table,
                &l.forward_chain,
                &l.nat_chain,
                &l.postrouting_chain,
            ] {
                if !valid_name(n) {
                    return Err(FirewallError::InvalidConfig(format!(
                        "bad table or chain name {n:?}"
                    )));
                }
            }
        }
        self.layout = layout;
        Ok(())
    }

    /// Turns hairpin on (`Some`) or off; takes effect at the next [`Firewall::init`]
    /// (call it again when the external address changes).
    pub fn set_hairpin(&mut self, hairpin: Option<Hairpin>) -> Result<(), FirewallError> {
        if let Some(h) = &hairpin {
            if let Some((a, p)) = h.lan.iter().find(|(_, p)| *p > 32) {
                return Err(FirewallError::InvalidConfig(format!(
                    "bad LAN network {a}/{p}"
                )));
            }
        }
        self.hairpin = hairpin;
        Ok(())
    }

    /// Turns the kernel's per-source request limit on (`Some`) or off; takes effect at
    /// the next [`Firewall::init`].
    pub fn set_request_limit(&mut self, limit: Option<RequestLimit>) -> Result<(), FirewallError> {
        if let Some(l) = &limit {
            if l.rate == 0 || l.burst == 0 || l.sources == 0 || l.port == 0 {
                return Err(FirewallError::InvalidConfig(format!(
                    "bad request limit {l:?}: port, rate, burst and sources must be at least 1"
                )));
            }
        }
        self.limit = limit;
        Ok(())
    }

    /// The request limit in use.
    pub fn request_limit(&self) -> Option<RequestLimit> {
        self.limit
    }

    /// The meter sets (family, table, name): in our own table, whatever the layout.
    fn meter_places(&self) -> Vec<(u8, &str, &'static str)> {
        match self.limit {
            Some(_) => vec![
                (NFPROTO_INET, self.cfg.table.as_str(), METER4),
                (NFPROTO_INET, self.cfg.table.as_str(), METER6),
            ],
            None => Vec::new(),
        }
    }

    /// Whether a rule found by [`Self::our_rules`] is in our own input chain (flushed
    /// with it, or removed with our table, in the miniupnpd layout too).
    fn in_our_input(&self, fam: u8, table: &str, chain: &str) -> bool {
        self.limit.is_some()
            && fam == NFPROTO_INET
            && table == self.cfg.table
            && chain == CHAIN_INPUT
    }

    /// The layout in use (`None`: our own table).
    pub fn layout(&self) -> Option<&NftLayout> {
        self.layout.as_ref()
    }

    /// (family, table) of the IPv4 maps and of the nat chains.
    fn nat_place(&self) -> (u8, &str) {
        match &self.layout {
            None => (NFPROTO_INET, &self.cfg.table),
            Some(l) if l.family_split => (NFPROTO_IPV4, &l.nat_table),
            Some(l) => (NFPROTO_INET, &l.nat_table),
        }
    }

    /// (family, table) of the IPv4 forward rules.
    fn filter4_place(&self) -> (u8, &str) {
        match &self.layout {
            None => (NFPROTO_INET, &self.cfg.table),
            Some(l) if l.family_split => (NFPROTO_IPV4, &l.table),
            Some(l) => (NFPROTO_INET, &l.table),
        }
    }

    /// (family, table) of the IPv6 pinhole sets and forward rules.
    fn filter6_place(&self) -> (u8, &str) {
        match &self.layout {
            None => (NFPROTO_INET, &self.cfg.table),
            Some(l) if l.family_split => (NFPROTO_IPV6, &l.table),
            Some(l) => (NFPROTO_INET, &l.table),
        }
    }

    fn set_place(&self, set: SetId) -> (u8, &str, &'static str) {
        let (fam, table) = if set.is_v4() {
            self.nat_place()
        } else {
            self.filter6_place()
        };
        (fam, table, set.name(self.layout.is_some()))
    }

    /// Our chains: (role, family, table, chain).
    fn chains(&self) -> Vec<(Role, u8, String, String)> {
        let mut out = Vec::new();
        let (nf, nt) = self.nat_place();
        let (f4, t4) = self.filter4_place();
        let (f6, t6) = self.filter6_place();
        let (pre, fwd, post) = match &self.layout {
            None => (CHAIN_PREROUTING, CHAIN_FORWARD, CHAIN_POSTROUTING),
            Some(l) => (
                l.nat_chain.as_str(),
                l.forward_chain.as_str(),
                l.postrouting_chain.as_str(),
            ),
        };
        out.push((Role::Prerouting, nf, nt.to_owned(), pre.to_owned()));
        out.push((Role::Forward4, f4, t4.to_owned(), fwd.to_owned()));
        if (f6, t6) != (f4, t4) {
            out.push((Role::Forward6, f6, t6.to_owned(), fwd.to_owned()));
        }
        out.push((Role::Postrouting, nf, nt.to_owned(), post.to_owned()));
        if self.limit.is_some() {
            out.push((
                Role::Input,
                NFPROTO_INET,
                self.cfg.table.clone(),
                CHAIN_INPUT.to_owned(),
            ));
        }
        out
    }

    /// The configuration in use.
    pub fn config(&self) -> &NftConfig {
        &self.cfg
    }

    fn batch(&self) -> Batch {
        Batch::new(self.seq)
    }

    fn map_errno(&self, errno: i32, op: &'static str) -> FirewallError {
        match errno {
            1 => FirewallError::PermissionDenied, // EPERM
            // ENOENT: our table, or in the miniupnpd layout the admin's table or chain.
            2 => FirewallError::TableMissing(match &self.layout {
                Some(l) => l.table.clone(),
                None => self.cfg.table.clone(),
            }),
            16 | 17 => FirewallError::Conflict { op }, // EBUSY, EEXIST
            _ => FirewallError::Kernel {
                op,
                source: io::Error::from_raw_os_error(errno),
            },
        }
    }

    /// Sends a batch and checks the acknowledgement of every message in it. The kernel
    /// runs the batch as one transaction. When the only refusals are `ENOENT` for
    /// deletions that allow an absent object ([`Batch::delete`], how kernels before
    /// 6.3 answer a deletion of an element they already expired), the batch is sent
    /// again without them; any other refusal fails the call.
    fn transact(&mut self, mut batch: Batch) -> Result<(), FirewallError> {
        loop {
            let refused = self.send_batch(&batch)?;
            if refused.is_empty() {
                return Ok(());
            }
            let gone: Vec<u32> = refused
                .iter()
                .filter(|r| r.errno == ENOENT && r.absent_ok)
                .map(|r| r.seq)
                .collect();
            if let Some(r) = refused.iter().find(|r| !gone.contains(&r.seq)) {
                return Err(self.map_errno(r.errno, r.what));
            }
            debug!(
                absent = gone.len(),
                "deletions of objects already gone; sending the batch again without them"
            );
            batch = batch.without(&gone, self.seq);
        }
    }

    /// Sends one batch and returns the messages the kernel refused (one with the
    /// batch's own sequence number when the whole batch was refused).
    fn send_batch(&mut self, batch: &Batch) -> Result<Vec<Refusal>, FirewallError> {
        let begin_seq = self.seq;
        let (bytes, next) = batch.finish();
        self.seq = next;
        let pending = batch.pending();
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        trace!(
            messages = pending.len(),
            bytes = bytes.len(),
            "nftables batch"
        );
        self.sock.send(&bytes)?;
        let mut waiting: HashMap<u32, (&'static str, bool)> = pending
            .iter()
            .map(|p| (p.seq, (p.what, p.absent_ok)))
            .collect();
        let mut refused = Vec::new();
        while !waiting.is_empty() {
            let data = self.sock.recv()?;
            for msg in netlink::messages(data) {
                let msg = msg?;
                if msg.ty != NLMSG_ERROR {
                    continue;
                }
                let (errno, seq) = netlink::parse_error(msg.payload)?;
                if seq == begin_seq && errno != 0 {
                    // The whole batch was refused (e.g. EPERM before any message ran).
                    refused.push(Refusal {
                        seq,
                        errno,
                        what: "batch",
                        absent_ok: false,
                    });
                    waiting.clear();
                    break;
                }
                if let Some((what, absent_ok)) = waiting.remove(&seq) {
                    if errno != 0 {
                        debug!(op = what, errno, "nftables message refused");
                        refused.push(Refusal {
                            seq,
                            errno,
                            what,
                            absent_ok,
                        });
                    }
                }
            }
        }
        Ok(refused)
    }

    /// Dumps the elements of one of our sets, calling `f` for each element's attributes.
    fn dump_set(
        &mut self,
        set: SetId,
        mut f: impl FnMut(&[u8]) -> Result<(), FirewallError>,
    ) -> Result<(), FirewallError> {
        let (fam, table, name) = self.set_place(set);
        let table = table.to_owned();
        self.dump(
            NFT_MSG_GETSETELEM,
            fam,
            |w| {
                w.string(NFTA_SET_ELEM_LIST_TABLE, &table);
                w.string(NFTA_SET_ELEM_LIST_SET, name);
            },
            |body| {
                for a in attrs(body) {
                    let (ty, p) = a?;
                    if ty != NFTA_SET_ELEM_LIST_ELEMENTS {
                        continue;
                    }
                    for e in attrs(p) {
                        let (ty, p) = e?;
                        if ty == NFTA_LIST_ELEM {
                            f(p)?;
                        }
                    }
                }
                Ok(())
            },
        )
    }

    /// Handles of the rules we added (tagged [`OUR_RULE_UDATA`]) in our chains:
    /// (family, table, chain, handle). Used only at init and shutdown.
    fn our_rules(&mut self) -> Result<Vec<(u8, String, String, u64)>, FirewallError> {
        let mut out = Vec::new();
        for (_, fam, table, chain) in self.chains() {
            let mut handles = Vec::new();
            let r = self.dump(
                NFT_MSG_GETRULE,
                fam,
                |w| {
                    w.string(NFTA_RULE_TABLE, &table);
                    w.string(NFTA_RULE_CHAIN, &chain);
                },
                |body| {
                    if let Some(h) = our_rule_handle(body)? {
                        handles.push(h);
                    }
                    Ok(())
                },
            );
            match r {
                // A chain (or table) that does not exist holds none of our rules.
                Ok(()) | Err(FirewallError::TableMissing(_)) => {}
                Err(e) => return Err(e),
            }
            out.extend(
                handles
                    .into_iter()
                    .map(|h| (fam, table.clone(), chain.clone(), h)),
            );
        }
        Ok(out)
    }

    /// Sends one dump request and calls `f` with the body (after `nfgenmsg`) of every
    /// answer message.
    fn dump(
        &mut self,
        msg_type: u8,
        family: u8,
        build: impl FnOnce(&mut AttrWriter<'_>),
        f: impl FnMut(&[u8]) -> Result<(), FirewallError>,
    ) -> Result<(), FirewallError> {
        self.dump_with(msg_type, family, NLM_F_DUMP, build, f)
    }

    /// Sends one request with `flags` (a dump, or a single get with `NLM_F_ACK`) and
    /// calls `f` with the body of every answer until the dump's end or the ack.
    fn dump_with(
        &mut self,
        msg_type: u8,
        family: u8,
        flags: u16,
        build: impl FnOnce(&mut AttrWriter<'_>),
        mut f: impl FnMut(&[u8]) -> Result<(), FirewallError>,
    ) -> Result<(), FirewallError> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let req = netlink::request(msg_type, family, flags, seq, build);
        self.sock.send(&req)?;
        let mut failure = None;
        'outer: loop {
            let data = self.sock.recv()?;
            for msg in netlink::messages(data) {
                let msg = msg?;
                if msg.seq != seq {
                    continue;
                }
                match msg.ty {
                    NLMSG_DONE => break 'outer,
                    NLMSG_ERROR => {
                        let (errno, _) = netlink::parse_error(msg.payload)?;
                        if errno != 0 {
                            failure = Some(errno);
                        }
                        break 'outer;
                    }
                    _ => f(msg.payload.get(NFGEN_LEN..).unwrap_or(&[]))?,
                }
            }
        }
        match failure {
            None => Ok(()),
            Some(errno) => Err(self.map_errno(errno, "dump")),
        }
    }

    /// Adds an element. With `replace`, any element with this key is dropped first in
    /// the same transaction (traffic never sees a gap; counters restart). Without it
    /// an existing element with the same data gets the new timeout in place and keeps
    /// its counters (Linux 6.12 and later; see [`KernelFeatures::in_place_refresh`]), and
    /// one with other data makes the kernel refuse the batch (EBUSY).
    fn put_elem(
        &self,
        b: &mut Batch,
        set: SetId,
        key: &[u8],
        data: Option<&[u8]>,
        timeout: Option<Duration>,
        replace: bool,
    ) {
        let (fam, table, set) = self.set_place(set);
        if replace {
            self.delete(b, Del::SetElem, fam, "delete element", |w| {
                elem_list(w, table, set, |w| {
                    w.nested(NFTA_SET_ELEM_KEY, |w| w.bytes(NFTA_DATA_VALUE, key))
                });
            });
        }
        b.message(NFT_MSG_NEWSETELEM, fam, NLM_F_CREATE, "add element", |w| {
            elem_list(w, table, set, |w| {
                w.nested(NFTA_SET_ELEM_KEY, |w| w.bytes(NFTA_DATA_VALUE, key));
                if let Some(d) = data {
                    w.nested(NFTA_SET_ELEM_DATA, |w| w.bytes(NFTA_DATA_VALUE, d));
                }
                if let Some(t) = timeout {
                    // At least 1 ms: a zero timeout would mean "the set's default".
                    let ms = u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1);
                    w.u64_be(NFTA_SET_ELEM_TIMEOUT, ms);
                }
            });
        });
    }

    /// Probes what elements can do with a probe element (protocol 0, port 0: no
    /// packet has that key): added with a 2 s timeout, read back (does it carry its
    /// timeout and a counter?), added again with an hour (is the timeout extended in
    /// place?), read back and deleted. Returns (in place, counters); an element
    /// without its timeout is [`FirewallError::Unsupported`].
    fn probe_elements(&mut self) -> Result<(bool, bool), FirewallError> {
        let key = fwd4_key(crate::L4Proto(0), 0);
        let data = fwd4_data(Ipv4Addr::UNSPECIFIED, 0);
        let put = |fw: &mut Self, secs: u64, replace: bool| {
            let mut b = fw.batch();
            let t = Some(Duration::from_secs(secs));
            fw.put_elem(&mut b, SetId::Fwd4, &key, Some(&data), t, replace);
            fw.transact(b)
        };
        let read = |fw: &mut Self| -> Result<Option<RawElem>, FirewallError> {
            let mut found = None;
            fw.dump_set(SetId::Fwd4, |p| {
                let e = parse_elem(p)?;
                if e.key == key {
                    found = Some(e);
                }
                Ok(())
            })?;
            Ok(found)
        };
        put(self, 2, true)?;
        let first = read(self)?;
        let again = put(self, 3600, false);
        let left = match again {
            Ok(()) => read(self)?.and_then(|e| e.expires_in),
            Err(_) => None,
        };
        let mut b = self.batch();
        self.del_elem(&mut b, SetId::Fwd4, &key);
        self.transact(b)?;
        let Some(first) = first.filter(|e| e.timeout.is_some()) else {
            return Err(FirewallError::Unsupported {
                op: "element timeouts",
                source: io::Error::from_raw_os_error(EOPNOTSUPP),
            });
        };
        Ok((
            left.is_some_and(|l| l > Duration::from_secs(60)),
            first.counter,
        ))
    }

    /// The batch for [`Firewall::apply`]; `replace`: see [`NftFirewall::put_elem`].
    fn apply_batch(&self, changes: &[Change], replace: bool) -> Batch {
        let mut b = self.batch();
        for c in changes {
            match c {
                Change::Put(m) => {
                    let data = fwd4_data(m.internal_addr, m.internal_port);
                    let (set, key) = match (m.key.external, m.key.remote) {
                        (Some(x), _) => (
                            SetId::Fwd4c,
                            fwd4c_key(x, m.key.proto, m.key.external_port).to_vec(),
                        ),
                        (None, Some(r)) => (
                            SetId::Fwd4r,
                            fwd4r_key(r, m.key.proto, m.key.external_port).to_vec(),
                        ),
                        (None, None) => (
                            SetId::Fwd4,
                            fwd4_key(m.key.proto, m.key.external_port).to_vec(),
                        ),
                    };
                    self.put_elem(&mut b, set, &key, Some(&data), m.timeout, replace);
                }
                Change::Remove(k) => match (k.external, k.remote) {
                    (Some(x), _) => self.del_elem(
                        &mut b,
                        SetId::Fwd4c,
                        &fwd4c_key(x, k.proto, k.external_port),
                    ),
                    (None, Some(r)) => self.del_elem(
                        &mut b,
                        SetId::Fwd4r,
                        &fwd4r_key(r, k.proto, k.external_port),
                    ),
                    (None, None) => {
                        self.del_elem(&mut b, SetId::Fwd4, &fwd4_key(k.proto, k.external_port))
                    }
                },
                Change::PutPinhole(p) => {
                    let set = SetId::of_pinhole(&p.key);
                    self.put_elem(&mut b, set, &pin6_key(&p.key), None, p.timeout, replace);
                }
                Change::RemovePinhole(k) => {
                    self.del_elem(&mut b, SetId::of_pinhole(k), &pin6_key(k));
                }
            }
        }
        b
    }

    fn del_elem(&self, b: &mut Batch, set: SetId, key: &[u8]) {
        let (fam, table, set) = self.set_place(set);
        self.delete(b, Del::SetElem, fam, "delete element", |w| {
            elem_list(w, table, set, |w| {
                w.nested(NFTA_SET_ELEM_KEY, |w| w.bytes(NFTA_DATA_VALUE, key))
            });
        });
    }

    /// The init transaction. `old_rules`: handles of our rules to delete first (layout
    /// mode; in our own table the chains are flushed instead).
    fn init_batch(&self, old_rules: &[(u8, String, String, u64)]) -> Batch {
        let cfg = &self.cfg;
        let layout = self.layout.is_some();
        let mut b = self.batch();
        // Our own table: everything, or in the miniupnpd layout the request limit only.
        if !layout || self.limit.is_some() {
            b.message(
                NFT_MSG_NEWTABLE,
                NFPROTO_INET,
                NLM_F_CREATE,
                "create table",
                |w| {
                    w.string(NFTA_TABLE_NAME, &cfg.table);
                },
            );
        }
        let ipv4_service = concat(&[TYPE_IPADDR, TYPE_INET_SERVICE]);
        for (i, set) in SetId::ALL.into_iter().enumerate() {
            let (key_type, key_len, data) = match set {
                SetId::Fwd4 => (
                    concat(&[TYPE_INET_PROTOCOL, TYPE_INET_SERVICE]),
                    8,
                    Some((ipv4_service, 8)),
                ),
                SetId::Fwd4r | SetId::Fwd4c => (
                    concat(&[TYPE_IPADDR, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE]),
                    12,
                    Some((ipv4_service, 8)),
                ),
                SetId::Pin6 => (
                    concat(&[TYPE_IP6ADDR, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE]),
                    24,
                    None,
                ),
                SetId::Pin6r => (
                    concat(&[
                        TYPE_IP6ADDR,
                        TYPE_IP6ADDR,
                        TYPE_INET_PROTOCOL,
                        TYPE_INET_SERVICE,
                    ]),
                    40,
                    None,
                ),
                SetId::Pin6p => (
                    concat(&[
                        TYPE_IP6ADDR,
                        TYPE_INET_PROTOCOL,
                        TYPE_INET_SERVICE,
                        TYPE_INET_SERVICE,
                    ]),
                    28,
                    None,
                ),
                SetId::Pin6rp => (
                    concat(&[
                        TYPE_IP6ADDR,
                        TYPE_IP6ADDR,
                        TYPE_INET_PROTOCOL,
                        TYPE_INET_SERVICE,
                        TYPE_INET_SERVICE,
                    ]),
                    44,
                    None,
                ),
            };
            let (fam, table, name) = self.set_place(set);
            let id = u32::try_from(i).unwrap_or(0) + 1;
            b.message(NFT_MSG_NEWSET, fam, NLM_F_CREATE, "create map", |w| {
                w.string(NFTA_SET_TABLE, table);
                w.string(NFTA_SET_NAME, name);
                let flags = NFT_SET_TIMEOUT | if data.is_some() { NFT_SET_MAP } else { 0 };
                w.u32_be(NFTA_SET_FLAGS, flags);
                w.u32_be(NFTA_SET_KEY_TYPE, key_type);
                w.u32_be(NFTA_SET_KEY_LEN, key_len);
                if let Some((dt, dl)) = data {
                    w.u32_be(NFTA_SET_DATA_TYPE, dt);
                    w.u32_be(NFTA_SET_DATA_LEN, dl);
                }
                w.u32_be(NFTA_SET_ID, id);
                // Template expression: every element gets its own counter.
                w.nested(NFTA_SET_EXPR, |w| w.string(NFTA_EXPR_NAME, "counter"));
            });
        }
        // The request limit's meters: no template expression (the rule's `update`
        // gives every element its own `limit`).
        for (n, (fam, table, name)) in self.meter_places().into_iter().enumerate() {
            let (key_type, key_len) = if name == METER4 {
                (TYPE_IPADDR, 4)
            } else {
                (TYPE_IP6ADDR, 16)
            };
            let sources = self.limit.map_or(1, |l| l.sources);
            let id = u32::try_from(SetId::ALL.len() + n).unwrap_or(0) + 1;
            b.message(NFT_MSG_NEWSET, fam, NLM_F_CREATE, "create meter", |w| {
                w.string(NFTA_SET_TABLE, table);
                w.string(NFTA_SET_NAME, name);
                w.u32_be(NFTA_SET_FLAGS, NFT_SET_TIMEOUT | NFT_SET_EVAL);
                w.u32_be(NFTA_SET_KEY_TYPE, key_type);
                w.u32_be(NFTA_SET_KEY_LEN, key_len);
                w.u32_be(NFTA_SET_ID, id);
                w.u64_be(
                    NFTA_SET_TIMEOUT,
                    u64::try_from(METER_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
                );
                w.nested(NFTA_SET_DESC, |w| w.u32_be(NFTA_SET_DESC_SIZE, sources));
            });
        }
        let chains = self.chains();
        if layout {
            for (fam, table, chain, handle) in old_rules {
                if self.in_our_input(*fam, table, chain) {
                    continue; // flushed below
                }
                self.delete(&mut b, Del::Rule, *fam, "delete rule", |w| {
                    w.string(NFTA_RULE_TABLE, table);
                    w.string(NFTA_RULE_CHAIN, chain);
                    w.u64_be(NFTA_RULE_HANDLE, *handle);
                });
            }
        }
        for (role, fam, table, chain) in &chains {
            if layout && *role != Role::Input {
                continue; // the admin's chains (in the miniupnpd layout)
            }
            let (kind, hook, prio) = match role {
                Role::Prerouting => ("nat", NF_INET_PRE_ROUTING, -100i32),
                Role::Forward4 | Role::Forward6 => ("filter", NF_INET_FORWARD, 0),
                Role::Postrouting => ("nat", NF_INET_POST_ROUTING, 100),
                Role::Input => ("filter", NF_INET_LOCAL_IN, 0),
            };
            b.message(NFT_MSG_NEWCHAIN, *fam, NLM_F_CREATE, "create chain", |w| {
                w.string(NFTA_CHAIN_TABLE, table);
                w.string(NFTA_CHAIN_NAME, chain);
                w.nested(NFTA_CHAIN_HOOK, |w| {
                    w.u32_be(NFTA_HOOK_HOOKNUM, hook);
                    w.u32_be(NFTA_HOOK_PRIORITY, prio as u32);
                });
                w.u32_be(NFTA_CHAIN_POLICY, NF_ACCEPT);
                w.string(NFTA_CHAIN_TYPE, kind);
            });
            // Flush: rules are rebuilt from the configuration each time.
            b.message(NFT_MSG_DELRULE, *fam, 0, "flush chain", |w| {
                w.string(NFTA_RULE_TABLE, table);
                w.string(NFTA_RULE_CHAIN, chain);
            });
        }
        let ext = cfg.ext_ifname.as_str();
        let ext6 = cfg.ext_ifname6.as_deref().unwrap_or(ext);
        let ifaces: Vec<&str> = if ext6 == ext {
            vec![ext]
        } else {
            vec![ext, ext6]
        };
        let split = chains.iter().any(|c| c.0 == Role::Forward6);
        let standalone = cfg.standalone && !layout;
        let fwd4 = SetId::Fwd4.name(layout);
        let fwd4r = SetId::Fwd4r.name(layout);
        let fwd4c = SetId::Fwd4c.name(layout);
        let pin6 = SetId::Pin6.name(layout);
        let pin6r = SetId::Pin6r.name(layout);
        let pin6p = SetId::Pin6p.name(layout);
        let pin6rp = SetId::Pin6rp.name(layout);
        for (role, fam, table, chain) in &chains {
            let mut rule = |f: &dyn Fn(&mut AttrWriter<'_>)| {
                b.message(
                    NFT_MSG_NEWRULE,
                    *fam,
                    NLM_F_CREATE | NLM_F_APPEND,
                    "add rule",
                    |w| {
                        w.string(NFTA_RULE_TABLE, table);
                        w.string(NFTA_RULE_CHAIN, chain);
                        w.nested(NFTA_RULE_EXPRESSIONS, |w| f(w));
                        w.bytes(NFTA_RULE_USERDATA, OUR_RULE_UDATA);
                    },
                );
            };
            // In an `ip`/`ip6` table the family is implied (and `nft list` cannot print
            // an nfproto match there).
            let inet = *fam == NFPROTO_INET;
            let v4 = matches!(role, Role::Forward4);
            let v6 = matches!(role, Role::Forward6) || (v4 && !split);
            match role {
                Role::Input => {
                    for (limit, (nfproto, saddr_offset, addr_len, set)) in
                        self.limit.iter().flat_map(|l| {
                            [(NFPROTO_IPV4, 12, 4, METER4), (NFPROTO_IPV6, 8, 16, METER6)]
                                .map(|m| (l, m))
                        })
                    {
                        // meta nfproto F meta l4proto udp udp dport PORT
                        //   update @SET { SADDR limit rate over RATE/second burst B packets } drop
                        rule(&|w| {
                            nfproto_eq(w, nfproto);
                            meta(w, NFT_META_L4PROTO, R0);
                            cmp(w, NFT_CMP_EQ, R0, &[IPPROTO_UDP]);
                            payload(w, PAYLOAD_TRANSPORT, 2, 2, R0);
                            cmp(w, NFT_CMP_EQ, R0, &limit.port.to_be_bytes());
                            payload(w, PAYLOAD_NETWORK, saddr_offset, addr_len, R0);
                            update_limit_over(w, set, R0, limit.rate, limit.burst);
                            verdict(w, NF_DROP);
                        });
                    }
                }
                Role::Prerouting => {
                    // CGN mode's pool (one port space per external address), then the
                    // mappings restricted to a remote host:
                    // iifname ext meta nfproto ipv4
                    //   dnat ip to ip daddr . meta l4proto . th dport map @fwd4c
                    // iifname ext meta nfproto ipv4
                    //   dnat ip to ip saddr . meta l4proto . th dport map @fwd4r
                    for (addr_offset, map) in [(16, fwd4c), (12, fwd4r)] {
                        rule(&|w| {
                            iifname_eq(w, ext);
                            if inet {
                                nfproto_eq(w, NFPROTO_IPV4);
                            }
                            payload(w, PAYLOAD_NETWORK, addr_offset, 4, R0);
                            meta(w, NFT_META_L4PROTO, R0 + 1);
                            payload(w, PAYLOAD_TRANSPORT, 2, 2, R0 + 2);
                            lookup(w, map, R0, Some(R0));
                            dnat4(w, R0, R0 + 1);
                        });
                    }
                    // iifname ext meta nfproto ipv4 dnat ip to meta l4proto . th dport map @fwd4
                    rule(&|w| {
                        iifname_eq(w, ext);
                        if inet {
                            nfproto_eq(w, NFPROTO_IPV4);
                        }
                        meta(w, NFT_META_L4PROTO, R0);
                        payload(w, PAYLOAD_TRANSPORT, 2, 2, R0 + 1);
                        lookup(w, fwd4, R0, Some(R0));
                        dnat4(w, R0, R0 + 1);
                    });
                    if let Some(h) = &self.hairpin {
                        // iifname != ext meta nfproto ipv4 ip daddr EXT
                        //   dnat ip to meta l4proto . th dport map @fwd4
                        rule(&|w| {
                            meta(w, NFT_META_IIFNAME, R0);
                            cmp(w, NFT_CMP_NEQ, R0, &ifname_bytes(ext));
                            if inet {
                                nfproto_eq(w, NFPROTO_IPV4);
                            }
                            payload(w, PAYLOAD_NETWORK, 16, 4, R0);
                            cmp(w, NFT_CMP_EQ, R0, &h.external.octets());
                            meta(w, NFT_META_L4PROTO, R0);
                            payload(w, PAYLOAD_TRANSPORT, 2, 2, R0 + 1);
                            lookup(w, fwd4, R0, Some(R0));
                            dnat4(w, R0, R0 + 1);
                        });
                    }
                }
                Role::Postrouting => {
                    for &(net, prefix) in self.hairpin.iter().flat_map(|h| h.lan.iter()) {
                        // meta nfproto ipv4 ip saddr NET/P ip daddr NET/P
                        //   ct status dnat masquerade
                        rule(&|w| {
                            if inet {
                                nfproto_eq(w, NFPROTO_IPV4);
                            }
                            payload(w, PAYLOAD_NETWORK, 12, 4, R0);
                            masked_eq(w, net, prefix);
                            payload(w, PAYLOAD_NETWORK, 16, 4, R0);
                            masked_eq(w, net, prefix);
                            ct_bits_set(w, NFT_CT_STATUS, IPS_DST_NAT);
                            expr(w, "masq", |_| {});
                        });
                    }
                }
                Role::Forward4 | Role::Forward6 => {
                    if standalone {
                        for &ifname in &ifaces {
                            // ct state established,related accept
                            rule(&|w| {
                                iifname_eq(w, ifname);
                                ct_bits_set(
                                    w,
                                    NFT_CT_STATE,
                                    CT_STATE_ESTABLISHED | CT_STATE_RELATED,
                                );
                                verdict(w, NF_ACCEPT);
                            });
                        }
                    }
                    if v4 {
                        // ct status dnat accept
                        rule(&|w| {
                            iifname_eq(w, ext);
                            ct_bits_set(w, NFT_CT_STATUS, IPS_DST_NAT);
                            verdict(w, NF_ACCEPT);
                        });
                    }
                    if v6 {
                        // ip6 [saddr .] daddr . meta l4proto . th dport [. th sport]
                        //   @pin6 / @pin6r / @pin6p / @pin6rp accept
                        for (set, saddr, sport) in [
                            (pin6, false, false),
                            (pin6r, true, false),
                            (pin6p, false, true),
                            (pin6rp, true, true),
                        ] {
                            rule(&|w| {
                                iifname_eq(w, ext6);
                                if inet {
                                    nfproto_eq(w, NFPROTO_IPV6);
                                }
                                let reg = if saddr {
                                    payload(w, PAYLOAD_NETWORK, 8, 16, R0);
                                    R0 + 4
                                } else {
                                    R0
                                };
                                payload(w, PAYLOAD_NETWORK, 24, 16, reg);
                                meta(w, NFT_META_L4PROTO, reg + 4);
                                payload(w, PAYLOAD_TRANSPORT, 2, 2, reg + 5);
                                if sport {
                                    payload(w, PAYLOAD_TRANSPORT, 0, 2, reg + 6);
                                }
                                lookup(w, set, R0, None);
                                verdict(w, NF_ACCEPT);
                            });
                        }
                    }
                    if standalone {
                        for &ifname in &ifaces {
                            rule(&|w| {
                                iifname_eq(w, ifname);
                                verdict(w, NF_DROP);
                            });
                        }
                    }
                }
            }
        }
        b
    }

    /// Layout mode: removes our rules and our maps/sets from the admin's tables.
    fn remove_ours(&mut self) -> Result<(), FirewallError> {
        let old = self.our_rules()?;
        let mut b = self.batch();
        for (fam, table, chain, handle) in &old {
            if self.in_our_input(*fam, table, chain) {
                continue; // goes with our table
            }
            self.delete(&mut b, Del::Rule, *fam, "delete rule", |w| {
                w.string(NFTA_RULE_TABLE, table);
                w.string(NFTA_RULE_CHAIN, chain);
                w.u64_be(NFTA_RULE_HANDLE, *handle);
            });
        }
        for set in SetId::ALL {
            let (fam, table, name) = self.set_place(set);
            self.delete(&mut b, Del::Set, fam, "delete map", |w| {
                w.string(NFTA_SET_TABLE, table);
                w.string(NFTA_SET_NAME, name);
            });
        }
        match self.transact(b) {
            Err(FirewallError::TableMissing(_)) => {}
            r => r?,
        }
        // The request limit's table of our own.
        if self.limit.is_some() {
            self.delete_table()?;
        }
        Ok(())
    }

    fn delete_table(&mut self) -> Result<(), FirewallError> {
        let mut b = self.batch();
        let t = self.cfg.table.clone();
        b.message(NFT_MSG_DELTABLE, NFPROTO_INET, 0, "delete table", |w| {
            w.string(NFTA_TABLE_NAME, &t);
        });
        match self.transact(b) {
            Err(FirewallError::TableMissing(_)) => Ok(()),
            r => r,
        }
    }
}

/// Runs `open` on a short-lived helper thread inside the network namespace `netns` (a
/// name under `/var/run/netns` or a path such as `/proc/PID/ns/net`) and returns what
/// it made: a socket stays in the namespace it was created in, and the caller's
/// namespace never changes.
pub(crate) fn in_netns<T: Send>(
    netns: &str,
    open: impl FnOnce() -> io::Result<T> + Send,
) -> Result<T, FirewallError> {
    let path = if netns.contains('/') {
        PathBuf::from(netns)
    } else {
        PathBuf::from("/var/run/netns").join(netns)
    };
    let ns_err = |source| FirewallError::Namespace {
        name: netns.to_owned(),
        source,
    };
    let file = std::fs::File::open(&path).map_err(ns_err)?;
    std::thread::scope(|s| {
        s.spawn(|| -> io::Result<T> {
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&file),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )?;
            open()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace helper thread panicked")))
    })
    .map_err(ns_err)
}

fn elem_list(
    w: &mut AttrWriter<'_>,
    table: &str,
    set: &str,
    elem: impl FnOnce(&mut AttrWriter<'_>),
) {
    w.string(NFTA_SET_ELEM_LIST_TABLE, table);
    w.string(NFTA_SET_ELEM_LIST_SET, set);
    w.nested(NFTA_SET_ELEM_LIST_ELEMENTS, |w| {
        w.nested(NFTA_LIST_ELEM, elem)
    });
}

// ---- expressions -------------------------------------------------------------------

const NFT_META_IIFNAME: u32 = 6;
const NFT_META_NFPROTO: u32 = 15;
const NFT_META_L4PROTO: u32 = 16;
const PAYLOAD_NETWORK: u32 = 1;
const PAYLOAD_TRANSPORT: u32 = 2;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_CT_STATE: u32 = 0;
const NFT_CT_STATUS: u32 = 2;
const NFT_NAT_DNAT: u32 = 1;
const IPPROTO_UDP: u8 = 17;
const NFT_DYNSET_OP_UPDATE: u32 = 1;
const NFT_LIMIT_PKTS: u32 = 0;
const NFT_LIMIT_F_INV: u32 = 1;
/// `NF_CT_STATE_BIT(IP_CT_ESTABLISHED)`.
const CT_STATE_ESTABLISHED: u32 = 1 << 1;
/// `NF_CT_STATE_BIT(IP_CT_RELATED)`.
const CT_STATE_RELATED: u32 = 1 << 2;
/// `IPS_DST_NAT` (linux/netfilter/nf_conntrack_common.h).
const IPS_DST_NAT: u32 = 1 << 5;

fn expr(w: &mut AttrWriter<'_>, name: &str, data: impl FnOnce(&mut AttrWriter<'_>)) {
    w.nested(NFTA_LIST_ELEM, |w| {
        w.string(NFTA_EXPR_NAME, name);
        w.nested(NFTA_EXPR_DATA, data);
    });
}

fn meta(w: &mut AttrWriter<'_>, key: u32, dreg: u32) {
    expr(w, "meta", |w| {
        w.u32_be(1, dreg); // NFTA_META_DREG
        w.u32_be(2, key); // NFTA_META_KEY
    });
}

fn cmp(w: &mut AttrWriter<'_>, op: u32, sreg: u32, value: &[u8]) {
    expr(w, "cmp", |w| {
        w.u32_be(1, sreg); // NFTA_CMP_SREG
        w.u32_be(2, op); // NFTA_CMP_OP
        w.nested(3, |w| w.bytes(NFTA_DATA_VALUE, value)); // NFTA_CMP_DATA
    });
}

/// An interface name as the kernel compares it: 16 bytes, NUL padded.
fn ifname_bytes(ifname: &str) -> [u8; 16] {
    let mut name = [0u8; 16];
    for (d, s) in name.iter_mut().zip(ifname.bytes()) {
        *d = s;
    }
    name
}

fn iifname_eq(w: &mut AttrWriter<'_>, ifname: &str) {
    meta(w, NFT_META_IIFNAME, R0);
    cmp(w, NFT_CMP_EQ, R0, &ifname_bytes(ifname));
}

/// `R0 & mask(prefix) == net & mask(prefix)` (an IPv4 address loaded in R0).
fn masked_eq(w: &mut AttrWriter<'_>, net: Ipv4Addr, prefix: u8) {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    expr(w, "bitwise", |w| {
        w.u32_be(1, R0); // NFTA_BITWISE_SREG
        w.u32_be(2, R0); // NFTA_BITWISE_DREG
        w.u32_be(3, 4); // NFTA_BITWISE_LEN
        w.nested(4, |w| w.bytes(NFTA_DATA_VALUE, &mask.to_be_bytes())); // MASK
        w.nested(5, |w| w.bytes(NFTA_DATA_VALUE, &[0; 4])); // XOR
    });
    cmp(w, NFT_CMP_EQ, R0, &(u32::from(net) & mask).to_be_bytes());
}

/// The handle of a dumped rule if it carries our tag.
fn our_rule_handle(body: &[u8]) -> Result<Option<u64>, FirewallError> {
    let mut handle = None;
    let mut ours = false;
    for a in attrs(body) {
        let (ty, v) = a?;
        match ty {
            NFTA_RULE_HANDLE => handle = Some(be_u64(v)?),
            NFTA_RULE_USERDATA => ours = v == OUR_RULE_UDATA,
            _ => {}
        }
    }
    Ok(handle.filter(|_| ours))
}

fn nfproto_eq(w: &mut AttrWriter<'_>, proto: u8) {
    meta(w, NFT_META_NFPROTO, R0);
    cmp(w, NFT_CMP_EQ, R0, &[proto]);
}

fn payload(w: &mut AttrWriter<'_>, base: u32, offset: u32, len: u32, dreg: u32) {
    expr(w, "payload", |w| {
        w.u32_be(1, dreg); // NFTA_PAYLOAD_DREG
        w.u32_be(2, base); // NFTA_PAYLOAD_BASE
        w.u32_be(3, offset); // NFTA_PAYLOAD_OFFSET
        w.u32_be(4, len); // NFTA_PAYLOAD_LEN
    });
}

fn lookup(w: &mut AttrWriter<'_>, set: &str, sreg: u32, dreg: Option<u32>) {
    expr(w, "lookup", |w| {
        w.string(1, set); // NFTA_LOOKUP_SET
        w.u32_be(2, sreg); // NFTA_LOOKUP_SREG
        if let Some(d) = dreg {
            w.u32_be(3, d); // NFTA_LOOKUP_DREG
        }
    });
}

/// `update @set { KEY limit rate over RATE/second burst BURST packets }`: the key in
/// `sreg` is added to (or refreshed in) the dynamic set `set`, each element with a
/// token bucket of its own; matches (goes on to the next expression) only when that
/// source is over its rate.
fn update_limit_over(w: &mut AttrWriter<'_>, set: &str, sreg: u32, rate: u32, burst: u32) {
    expr(w, "dynset", |w| {
        w.string(1, set); // NFTA_DYNSET_SET_NAME
        w.u32_be(3, NFT_DYNSET_OP_UPDATE); // NFTA_DYNSET_OP
        w.u32_be(4, sreg); // NFTA_DYNSET_SREG_KEY
        w.nested(7, |w| {
            // NFTA_DYNSET_EXPR
            w.string(NFTA_EXPR_NAME, "limit");
            w.nested(NFTA_EXPR_DATA, |w| {
                w.u64_be(1, u64::from(rate)); // NFTA_LIMIT_RATE
                w.u64_be(2, 1); // NFTA_LIMIT_UNIT: seconds
                w.u32_be(3, burst); // NFTA_LIMIT_BURST
                w.u32_be(4, NFT_LIMIT_PKTS); // NFTA_LIMIT_TYPE
                w.u32_be(5, NFT_LIMIT_F_INV); // NFTA_LIMIT_FLAGS: "over"
            });
        });
    });
}

fn dnat4(w: &mut AttrWriter<'_>, reg_addr: u32, reg_port: u32) {
    expr(w, "nat", |w| {
        w.u32_be(1, NFT_NAT_DNAT); // NFTA_NAT_TYPE
        w.u32_be(2, u32::from(NFPROTO_IPV4)); // NFTA_NAT_FAMILY
        w.u32_be(3, reg_addr); // NFTA_NAT_REG_ADDR_MIN
        w.u32_be(5, reg_port); // NFTA_NAT_REG_PROTO_MIN
    });
}

/// `ct KEY & bits != 0` (ct state and status are host-order u32).
fn ct_bits_set(w: &mut AttrWriter<'_>, key: u32, bits: u32) {
    expr(w, "ct", |w| {
        w.u32_be(1, R0); // NFTA_CT_DREG
        w.u32_be(2, key); // NFTA_CT_KEY
    });
    expr(w, "bitwise", |w| {
        w.u32_be(1, R0); // NFTA_BITWISE_SREG
        w.u32_be(2, R0); // NFTA_BITWISE_DREG
        w.u32_be(3, 4); // NFTA_BITWISE_LEN
        w.nested(4, |w| w.bytes(NFTA_DATA_VALUE, &bits.to_ne_bytes())); // MASK
        w.nested(5, |w| w.bytes(NFTA_DATA_VALUE, &[0; 4])); // XOR
    });
    cmp(w, NFT_CMP_NEQ, R0, &[0; 4]);
}

fn verdict(w: &mut AttrWriter<'_>, code: u32) {
    expr(w, "immediate", |w| {
        w.u32_be(1, R_VERDICT); // NFTA_IMMEDIATE_DREG
        w.nested(2, |w| {
            // NFTA_IMMEDIATE_DATA
            w.nested(NFTA_DATA_VERDICT, |w| w.u32_be(NFTA_VERDICT_CODE, code));
        });
    });
}

// ---- element parsing ---------------------------------------------------------------

/// One element as dumped by the kernel.
#[derive(Debug, Default, PartialEq, Eq)]
struct RawElem {
    key: Vec<u8>,
    /// Whether the element carries a counter expression.
    counter: bool,
    data: Option<Vec<u8>>,
    timeout: Option<Duration>,
    expires_in: Option<Duration>,
    packets: u64,
    bytes: u64,
}

fn nft_data_value(p: &[u8]) -> Result<Vec<u8>, FirewallError> {
    for a in attrs(p) {
        let (ty, v) = a?;
        if ty == NFTA_DATA_VALUE {
            return Ok(v.to_vec());
        }
    }
    Err(FirewallError::Decode("nft_data without a value"))
}

fn parse_counter_expr(p: &[u8], e: &mut RawElem) -> Result<(), FirewallError> {
    let mut is_counter = false;
    let mut data = None;
    for a in attrs(p) {
        let (ty, v) = a?;
        match ty {
            NFTA_EXPR_NAME => is_counter = v.split(|&c| c == 0).next() == Some(b"counter"),
            NFTA_EXPR_DATA => data = Some(v),
            _ => {}
        }
    }
    if let (true, Some(d)) = (is_counter, data) {
        e.counter = true;
        for a in attrs(d) {
            let (ty, v) = a?;
            match ty {
                NFTA_COUNTER_BYTES => e.bytes = be_u64(v)?,
                NFTA_COUNTER_PACKETS => e.packets = be_u64(v)?,
                _ => {}
            }
        }
    }
    Ok(())
}

/// Timeouts of 0 or `u64::MAX` ms (`NFT_NEVER_EXPIRES`) mean "no timeout".
fn ms(v: &[u8]) -> Result<Option<Duration>, FirewallError> {
    let ms = be_u64(v)?;
    Ok((ms != 0 && ms != u64::MAX).then(|| Duration::from_millis(ms)))
}

fn parse_elem(p: &[u8]) -> Result<RawElem, FirewallError> {
    let mut e = RawElem::default();
    for a in attrs(p) {
        let (ty, v) = a?;
        match ty {
            NFTA_SET_ELEM_KEY => e.key = nft_data_value(v)?,
            NFTA_SET_ELEM_DATA => e.data = Some(nft_data_value(v)?),
            NFTA_SET_ELEM_TIMEOUT => e.timeout = ms(v)?,
            NFTA_SET_ELEM_EXPIRATION => e.expires_in = ms(v)?,
            NFTA_SET_ELEM_EXPR => parse_counter_expr(v, &mut e)?,
            NFTA_SET_ELEM_EXPRESSIONS => {
                for x in attrs(v) {
                    let (ty, v) = x?;
                    if ty == NFTA_LIST_ELEM {
                        parse_counter_expr(v, &mut e)?;
                    }
                }
            }
            _ => {}
        }
    }
    if e.timeout.is_none() {
        e.expires_in = None;
    }
    Ok(e)
}

impl Firewall for NftFirewall {
    fn init(&mut self) -> Result<(), FirewallError> {
        if !self.probed {
            self.features.destroy = self.probe_destroy()?;
        }
        let old = if self.layout.is_some() {
            self.our_rules()?
        } else {
            Vec::new()
        };
        let b = self.init_batch(&old);
        let done = match self.transact(b) {
            Err(FirewallError::Conflict { op }) => {
                // An incompatible table or map (e.g. maps of an older layout): start
                // afresh. The daemon re-adds its mappings from the lease file
                // (reconcile). In the admin's tables only our own objects go.
                debug!(op, table = %self.cfg.table, "incompatible objects, recreating them");
                if self.layout.is_some() {
                    self.remove_ours()?;
                } else {
                    self.delete_table()?;
                }
                let b = self.init_batch(&[]);
                self.transact(b)
            }
            r => r,
        };
        match done {
            Ok(()) => {}
            // Our own table was just created in this very batch: ENOENT here means
            // a chain type, expression or set type the kernel does not have (an old
            // kernel or a module not built), not a missing table.
            Err(FirewallError::TableMissing(_)) if self.layout.is_none() => {
                return Err(FirewallError::Unsupported {
                    op: "create table, maps, chains and rules",
                    source: io::Error::from_raw_os_error(ENOENT),
                })
            }
            Err(FirewallError::Kernel { op, source })
                if matches!(source.raw_os_error(), Some(EINVAL | EOPNOTSUPP)) =>
            {
                return Err(FirewallError::Unsupported { op, source })
            }
            Err(e) => return Err(e),
        }
        if !self.probed {
            let (in_place, counters) = self.probe_elements()?;
            self.features.in_place_refresh = in_place;
            self.features.element_counters = counters;
            self.probed = true;
            debug!(features = ?self.features, "nftables kernel features");
        }
        Ok(())
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), FirewallError> {
        if self.features.in_place_refresh {
            // In place first: a refresh keeps the element and its counters. A changed
            // target (other internal host or port) makes the kernel refuse the batch;
            // then the whole batch goes again as delete-and-add.
            let b = self.apply_batch(changes, false);
            match self.transact(b) {
                Err(FirewallError::Conflict { .. }) => {}
                r => return r,
            }
        }
        let b = self.apply_batch(changes, true);
        self.transact(b)
    }

    fn list(&mut self) -> Result<Vec<MappingEntry>, FirewallError> {
        let mut out = Vec::new();
        for set in [SetId::Fwd4c, SetId::Fwd4r, SetId::Fwd4] {
            self.dump_set(set, |p| {
                let e = parse_elem(p)?;
                let key = if set == SetId::Fwd4c {
                    decode_fwd4c_key(&e.key)?
                } else {
                    decode_fwd4_key(&e.key)?
                };
                let data = e
                    .data
                    .as_deref()
                    .ok_or(FirewallError::Decode("map element without data"))?;
                let (internal_addr, internal_port) = decode_fwd4_data(data)?;
                out.push(MappingEntry {
                    mapping: Mapping {
                        key,
                        internal_addr,
                        internal_port,
                        timeout: e.timeout,
                    },
                    expires_in: e.expires_in,
                    packets: e.packets,
                    bytes: e.bytes,
                });
                Ok(())
            })?;
        }
        Ok(out)
    }

    fn replace_mappings(&mut self, wanted: &[Mapping]) -> Result<ReconcileReport, FirewallError> {
        // A DELSETELEM without an element list flushes the set.
        let mut b = self.batch();
        for set in [SetId::Fwd4c, SetId::Fwd4r, SetId::Fwd4] {
            let (fam, table, name) = self.set_place(set);
            b.message(NFT_MSG_DELSETELEM, fam, 0, "flush map", |w| {
                w.string(NFTA_SET_ELEM_LIST_TABLE, table);
                w.string(NFTA_SET_ELEM_LIST_SET, name);
            });
        }
        self.transact(b)?;
        let puts: Vec<Change> = wanted.iter().map(|m| Change::Put(*m)).collect();
        for chunk in puts.chunks(crate::MAX_BATCH_CHANGES) {
            self.apply(chunk)?;
        }
        Ok(ReconcileReport {
            added: wanted.len(),
            ..ReconcileReport::default()
        })
    }

    fn list_pinholes(&mut self) -> Result<Vec<PinholeEntry>, FirewallError> {
        let mut out = Vec::new();
        for set in [SetId::Pin6rp, SetId::Pin6p, SetId::Pin6r, SetId::Pin6] {
            self.dump_set(set, |p| {
                let e = parse_elem(p)?;
                out.push(PinholeEntry {
                    pinhole: Pinhole {
                        key: decode_pin6_key(&e.key)?,
                        timeout: e.timeout,
                    },
                    expires_in: e.expires_in,
                    packets: e.packets,
                    bytes: e.bytes,
                });
                Ok(())
            })?;
        }
        Ok(out)
    }

    fn set_external_address(&mut self, addr: Option<Ipv4Addr>) -> Result<(), FirewallError> {
        let Some(h) = &mut self.hairpin else {
            return Ok(());
        };
        match addr {
            Some(a) if a == h.external => return Ok(()),
            Some(a) => {
                debug!(external = %a, "hairpin rules follow the external address");
                h.external = a;
            }
            // No usable address: nothing to hairpin; the old rule stays harmlessly
            // (it matches an address the gateway no longer has).
            None => return Ok(()),
        }
        self.init()
    }

    fn verify(&mut self) -> Result<bool, FirewallError> {
        let places: Vec<(u8, String, &'static str)> = SetId::ALL
            .into_iter()
            .map(|set| self.set_place(set))
            .chain(self.meter_places())
            .map(|(fam, table, name)| (fam, table.to_owned(), name))
            .collect();
        for (fam, table, name) in places {
            let got = self.dump_with(
                NFT_MSG_GETSET,
                fam,
                NLM_F_ACK,
                |w| {
                    w.string(NFTA_SET_TABLE, &table);
                    w.string(NFTA_SET_NAME, name);
                },
                |_| Ok(()),
            );
            match got {
                Ok(()) => {}
                Err(FirewallError::TableMissing(_)) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        let expected = self
            .init_batch(&[])
            .pending()
            .iter()
            .filter(|p| p.what == "add rule")
            .count();
        Ok(self.our_rules()?.len() == expected)
    }

    fn shutdown(&mut self, keep: bool) -> Result<(), FirewallError> {
        if keep {
            debug!(table = %self.cfg.table, "keeping nftables table");
            return Ok(());
        }
        if self.layout.is_some() {
            self.remove_ours()
        } else {
            self.delete_table()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(ty: u16, v: &[u8]) -> Vec<u8> {
        let len = u16::try_from(4 + v.len()).unwrap_or(u16::MAX);
        let mut out = len.to_ne_bytes().to_vec();
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(v);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    #[test]
    fn our_rules_are_recognised_by_their_tag() {
        let mut body = attr(NFTA_RULE_TABLE, b"filter\0");
        body.extend(attr(NFTA_RULE_HANDLE, &42u64.to_be_bytes()));
        let mut ours = body.clone();
        ours.extend(attr(NFTA_RULE_USERDATA, OUR_RULE_UDATA));
        assert_eq!(our_rule_handle(&ours).ok(), Some(Some(42)));
        // The admin's rule: another comment, or none.
        let mut admin = body.clone();
        admin.extend(attr(NFTA_RULE_USERDATA, b"\x00\x06admin\x00"));
        assert_eq!(our_rule_handle(&admin).ok(), Some(None));
        assert_eq!(our_rule_handle(&body).ok(), Some(None));
        // Truncated attribute: a decode error, not a panic.
        let mut bad = ours.clone();
        bad.extend_from_slice(&[200, 0, 3, 0]);
        assert!(our_rule_handle(&bad).is_err());
    }

    #[test]
    fn layout_names_are_validated() {
        assert!(valid_name("miniupnpd"));
        assert!(!valid_name(""));
        assert!(!valid_name("a\0b"));
        assert!(!valid_name(&"x".repeat(MAX_TABLE_NAME_LEN + 1)));
    }
}
