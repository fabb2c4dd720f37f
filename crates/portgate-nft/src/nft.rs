//! The kernel backend: nf_tables messages for our table, chains, maps, rules and
//! elements, sent over a netfilter netlink socket.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tracing::{debug, trace};

use crate::netlink::{
    self, attrs, be_u64, AttrWriter, Batch, NlSocket, NFGEN_LEN, NLMSG_DONE, NLMSG_ERROR,
    NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP,
};
use crate::types::{
    decode_fwd4_data, decode_fwd4_key, decode_pin6_key, fwd4_data, fwd4_key, fwd4r_key, pin6_key,
    Change, Mapping, MappingEntry, Pinhole, PinholeEntry,
};
use crate::{Firewall, FirewallError};

// Message types (enum nf_tables_msg_types).
const NFT_MSG_NEWTABLE: u8 = 0;
const NFT_MSG_DELTABLE: u8 = 2;
const NFT_MSG_NEWCHAIN: u8 = 3;
const NFT_MSG_NEWRULE: u8 = 6;
const NFT_MSG_DELRULE: u8 = 8;
const NFT_MSG_NEWSET: u8 = 9;
const NFT_MSG_NEWSETELEM: u8 = 12;
const NFT_MSG_GETSETELEM: u8 = 13;
/// Linux 6.3+: like DELSETELEM but an absent element is not an error.
const NFT_MSG_DESTROYSETELEM: u8 = 30;

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
const NFTA_RULE_EXPRESSIONS: u16 = 4;
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
const NFTA_SET_ID: u16 = 10;
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
const NF_INET_FORWARD: u32 = 2;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;

// 32-bit registers.
const R0: u32 = 8;
const R_VERDICT: u32 = 0;

const MAP_FWD4: &str = "fwd4";
const MAP_FWD4R: &str = "fwd4r";
const SET_PIN6: &str = "pin6";
const SET_PIN6R: &str = "pin6r";
const CHAIN_PREROUTING: &str = "prerouting";
const CHAIN_FORWARD: &str = "forward";

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

/// (name, key type, key length, map data (type, length), set id).
type SetSpec = (&'static str, u32, u32, Option<(u32, u32)>, u32);

/// The nftables backend: a netlink socket bound in one network namespace.
#[derive(Debug)]
pub struct NftFirewall {
    sock: NlSocket,
    seq: u32,
    cfg: NftConfig,
}

impl NftFirewall {
    /// Opens a netlink socket in the calling thread's network namespace.
    pub fn open(cfg: NftConfig) -> Result<Self, FirewallError> {
        cfg.validate()?;
        let sock = NlSocket::open()?;
        Ok(NftFirewall { sock, seq: 1, cfg })
    }

    /// Opens the socket inside the network namespace `netns`: a name under
    /// `/var/run/netns` (as made by `ip netns add`) or a path such as `/proc/PID/ns/net`.
    /// A socket stays in the namespace it was created in; the switch happens on a
    /// short-lived helper thread, so the caller's namespace never changes.
    pub fn open_in_netns(netns: &str, cfg: NftConfig) -> Result<Self, FirewallError> {
        cfg.validate()?;
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
        let sock = std::thread::scope(|s| {
            s.spawn(|| -> io::Result<NlSocket> {
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&file),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                NlSocket::open()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("namespace helper thread panicked")))
        })
        .map_err(ns_err)?;
        Ok(NftFirewall { sock, seq: 1, cfg })
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
            2 => FirewallError::TableMissing(self.cfg.table.clone()), // ENOENT
            16 | 17 => FirewallError::Conflict { op }, // EBUSY, EEXIST
            _ => FirewallError::Kernel {
                op,
                source: io::Error::from_raw_os_error(errno),
            },
        }
    }

    /// Sends a batch and checks the acknowledgement of every message in it.
    fn transact(&mut self, batch: Batch) -> Result<(), FirewallError> {
        let begin_seq = self.seq;
        let (bytes, pending, next) = batch.finish();
        self.seq = next;
        if pending.is_empty() {
            return Ok(());
        }
        trace!(
            messages = pending.len(),
            bytes = bytes.len(),
            "nftables batch"
        );
        self.sock.send(&bytes)?;
        let mut waiting: HashMap<u32, &'static str> = pending.into_iter().collect();
        let mut failure: Option<(i32, &'static str)> = None;
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
                    failure.get_or_insert((errno, "batch"));
                    waiting.clear();
                    break;
                }
                if let Some(op) = waiting.remove(&seq) {
                    if errno != 0 {
                        debug!(op, errno, "nftables message refused");
                        failure.get_or_insert((errno, op));
                    }
                }
            }
        }
        match failure {
            None => Ok(()),
            Some((errno, op)) => Err(self.map_errno(errno, op)),
        }
    }

    /// Dumps the elements of one of our sets, calling `f` for each element's attributes.
    fn dump_set(
        &mut self,
        set: &str,
        mut f: impl FnMut(&[u8]) -> Result<(), FirewallError>,
    ) -> Result<(), FirewallError> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let table = self.cfg.table.clone();
        let req = netlink::request(NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP, seq, |w| {
            w.string(NFTA_SET_ELEM_LIST_TABLE, &table);
            w.string(NFTA_SET_ELEM_LIST_SET, set);
        });
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
                    _ => {
                        let body = msg.payload.get(NFGEN_LEN..).unwrap_or(&[]);
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
                    }
                }
            }
        }
        match failure {
            None => Ok(()),
            Some(errno) => Err(self.map_errno(errno, "list elements")),
        }
    }

    fn put_elem(
        &self,
        b: &mut Batch,
        set: &'static str,
        key: &[u8],
        data: Option<&[u8]>,
        timeout: Option<Duration>,
    ) {
        let table = &self.cfg.table;
        // Replace: drop any element with this key first (same transaction, so traffic
        // never sees a gap), then add.
        b.message(
            NFT_MSG_DESTROYSETELEM,
            NFPROTO_INET,
            0,
            "delete element",
            |w| {
                elem_list(w, table, set, |w| {
                    w.nested(NFTA_SET_ELEM_KEY, |w| w.bytes(NFTA_DATA_VALUE, key))
                });
            },
        );
        b.message(
            NFT_MSG_NEWSETELEM,
            NFPROTO_INET,
            NLM_F_CREATE,
            "add element",
            |w| {
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
            },
        );
    }

    fn del_elem(&self, b: &mut Batch, set: &'static str, key: &[u8]) {
        let table = &self.cfg.table;
        b.message(
            NFT_MSG_DESTROYSETELEM,
            NFPROTO_INET,
            0,
            "delete element",
            |w| {
                elem_list(w, table, set, |w| {
                    w.nested(NFTA_SET_ELEM_KEY, |w| w.bytes(NFTA_DATA_VALUE, key))
                });
            },
        );
    }

    fn init_batch(&self) -> Batch {
        let cfg = &self.cfg;
        let t = cfg.table.as_str();
        let mut b = self.batch();
        b.message(
            NFT_MSG_NEWTABLE,
            NFPROTO_INET,
            NLM_F_CREATE,
            "create table",
            |w| {
                w.string(NFTA_TABLE_NAME, t);
            },
        );
        let ipv4_service = concat(&[TYPE_IPADDR, TYPE_INET_SERVICE]);
        let sets: [SetSpec; 4] = [
            (
                MAP_FWD4,
                concat(&[TYPE_INET_PROTOCOL, TYPE_INET_SERVICE]),
                8,
                Some((ipv4_service, 8)),
                1,
            ),
            (
                MAP_FWD4R,
                concat(&[TYPE_IPADDR, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE]),
                12,
                Some((ipv4_service, 8)),
                2,
            ),
            (
                SET_PIN6,
                concat(&[TYPE_IP6ADDR, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE]),
                24,
                None,
                3,
            ),
            (
                SET_PIN6R,
                concat(&[
                    TYPE_IP6ADDR,
                    TYPE_IP6ADDR,
                    TYPE_INET_PROTOCOL,
                    TYPE_INET_SERVICE,
                ]),
                40,
                None,
                4,
            ),
        ];
        for (name, key_type, key_len, data, id) in sets {
            b.message(
                NFT_MSG_NEWSET,
                NFPROTO_INET,
                NLM_F_CREATE,
                "create map",
                |w| {
                    w.string(NFTA_SET_TABLE, t);
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
                },
            );
        }
        for (chain, kind, hook, prio) in [
            (CHAIN_PREROUTING, "nat", NF_INET_PRE_ROUTING, -100i32),
            (CHAIN_FORWARD, "filter", NF_INET_FORWARD, 0),
        ] {
            b.message(
                NFT_MSG_NEWCHAIN,
                NFPROTO_INET,
                NLM_F_CREATE,
                "create chain",
                |w| {
                    w.string(NFTA_CHAIN_TABLE, t);
                    w.string(NFTA_CHAIN_NAME, chain);
                    w.nested(NFTA_CHAIN_HOOK, |w| {
                        w.u32_be(NFTA_HOOK_HOOKNUM, hook);
                        w.u32_be(NFTA_HOOK_PRIORITY, prio as u32);
                    });
                    w.u32_be(NFTA_CHAIN_POLICY, NF_ACCEPT);
                    w.string(NFTA_CHAIN_TYPE, kind);
                },
            );
            // Flush: rules are rebuilt from the configuration each time.
            b.message(NFT_MSG_DELRULE, NFPROTO_INET, 0, "flush chain", |w| {
                w.string(NFTA_RULE_TABLE, t);
                w.string(NFTA_RULE_CHAIN, chain);
            });
        }
        let ext = cfg.ext_ifname.as_str();
        let ext6 = cfg.ext_ifname6.as_deref().unwrap_or(ext);
        let mut rule = |chain: &str, f: &dyn Fn(&mut AttrWriter<'_>)| {
            b.message(
                NFT_MSG_NEWRULE,
                NFPROTO_INET,
                NLM_F_CREATE | NLM_F_APPEND,
                "add rule",
                |w| {
                    w.string(NFTA_RULE_TABLE, t);
                    w.string(NFTA_RULE_CHAIN, chain);
                    w.nested(NFTA_RULE_EXPRESSIONS, |w| f(w));
                },
            );
        };
        // iifname ext meta nfproto ipv4 dnat ip to ip saddr . meta l4proto . th dport map @fwd4r
        rule(CHAIN_PREROUTING, &|w| {
            iifname_eq(w, ext);
            nfproto_eq(w, NFPROTO_IPV4);
            payload(w, PAYLOAD_NETWORK, 12, 4, R0);
            meta(w, NFT_META_L4PROTO, R0 + 1);
            payload(w, PAYLOAD_TRANSPORT, 2, 2, R0 + 2);
            lookup(w, MAP_FWD4R, R0, Some(R0));
            dnat4(w, R0, R0 + 1);
        });
        // iifname ext meta nfproto ipv4 dnat ip to meta l4proto . th dport map @fwd4
        rule(CHAIN_PREROUTING, &|w| {
            iifname_eq(w, ext);
            nfproto_eq(w, NFPROTO_IPV4);
            meta(w, NFT_META_L4PROTO, R0);
            payload(w, PAYLOAD_TRANSPORT, 2, 2, R0 + 1);
            lookup(w, MAP_FWD4, R0, Some(R0));
            dnat4(w, R0, R0 + 1);
        });
        let ifaces: Vec<&str> = if ext6 == ext {
            vec![ext]
        } else {
            vec![ext, ext6]
        };
        for &ifname in &ifaces {
            // ct state established,related accept
            rule(CHAIN_FORWARD, &|w| {
                iifname_eq(w, ifname);
                ct_bits_set(w, NFT_CT_STATE, CT_STATE_ESTABLISHED | CT_STATE_RELATED);
                verdict(w, NF_ACCEPT);
            });
        }
        // ct status dnat accept
        rule(CHAIN_FORWARD, &|w| {
            iifname_eq(w, ext);
            ct_bits_set(w, NFT_CT_STATUS, IPS_DST_NAT);
            verdict(w, NF_ACCEPT);
        });
        // ip6 daddr . meta l4proto . th dport @pin6 accept
        rule(CHAIN_FORWARD, &|w| {
            iifname_eq(w, ext6);
            nfproto_eq(w, NFPROTO_IPV6);
            payload(w, PAYLOAD_NETWORK, 24, 16, R0);
            meta(w, NFT_META_L4PROTO, R0 + 4);
            payload(w, PAYLOAD_TRANSPORT, 2, 2, R0 + 5);
            lookup(w, SET_PIN6, R0, None);
            verdict(w, NF_ACCEPT);
        });
        // ip6 saddr . ip6 daddr . meta l4proto . th dport @pin6r accept
        rule(CHAIN_FORWARD, &|w| {
            iifname_eq(w, ext6);
            nfproto_eq(w, NFPROTO_IPV6);
            payload(w, PAYLOAD_NETWORK, 8, 16, R0);
            payload(w, PAYLOAD_NETWORK, 24, 16, R0 + 4);
            meta(w, NFT_META_L4PROTO, R0 + 8);
            payload(w, PAYLOAD_TRANSPORT, 2, 2, R0 + 9);
            lookup(w, SET_PIN6R, R0, None);
            verdict(w, NF_ACCEPT);
        });
        if cfg.standalone {
            for &ifname in &ifaces {
                rule(CHAIN_FORWARD, &|w| {
                    iifname_eq(w, ifname);
                    verdict(w, NF_DROP);
                });
            }
        }
        b
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

fn iifname_eq(w: &mut AttrWriter<'_>, ifname: &str) {
    meta(w, NFT_META_IIFNAME, R0);
    let mut name = [0u8; 16];
    for (d, s) in name.iter_mut().zip(ifname.bytes()) {
        *d = s;
    }
    cmp(w, NFT_CMP_EQ, R0, &name);
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
        let b = self.init_batch();
        match self.transact(b) {
            Err(FirewallError::Conflict { op }) => {
                // An incompatible table (e.g. maps of an older layout): start afresh. The
                // daemon re-adds its mappings from the lease file (reconcile).
                debug!(op, table = %self.cfg.table, "incompatible table, recreating it");
                self.delete_table()?;
                let b = self.init_batch();
                self.transact(b)
            }
            r => r,
        }
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), FirewallError> {
        let mut b = self.batch();
        for c in changes {
            match c {
                Change::Put(m) => {
                    let data = fwd4_data(m.internal_addr, m.internal_port);
                    match m.key.remote {
                        Some(r) => {
                            let k = fwd4r_key(r, m.key.proto, m.key.external_port);
                            self.put_elem(&mut b, MAP_FWD4R, &k, Some(&data), m.timeout);
                        }
                        None => {
                            let k = fwd4_key(m.key.proto, m.key.external_port);
                            self.put_elem(&mut b, MAP_FWD4, &k, Some(&data), m.timeout);
                        }
                    }
                }
                Change::Remove(k) => match k.remote {
                    Some(r) => {
                        self.del_elem(&mut b, MAP_FWD4R, &fwd4r_key(r, k.proto, k.external_port))
                    }
                    None => self.del_elem(&mut b, MAP_FWD4, &fwd4_key(k.proto, k.external_port)),
                },
                Change::PutPinhole(p) => {
                    let set = if p.key.remote.is_some() {
                        SET_PIN6R
                    } else {
                        SET_PIN6
                    };
                    self.put_elem(&mut b, set, &pin6_key(&p.key), None, p.timeout);
                }
                Change::RemovePinhole(k) => {
                    let set = if k.remote.is_some() {
                        SET_PIN6R
                    } else {
                        SET_PIN6
                    };
                    self.del_elem(&mut b, set, &pin6_key(k));
                }
            }
        }
        self.transact(b)
    }

    fn list(&mut self) -> Result<Vec<MappingEntry>, FirewallError> {
        let mut out = Vec::new();
        for set in [MAP_FWD4R, MAP_FWD4] {
            self.dump_set(set, |p| {
                let e = parse_elem(p)?;
                let key = decode_fwd4_key(&e.key)?;
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

    fn list_pinholes(&mut self) -> Result<Vec<PinholeEntry>, FirewallError> {
        let mut out = Vec::new();
        for set in [SET_PIN6R, SET_PIN6] {
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

    fn shutdown(&mut self, keep: bool) -> Result<(), FirewallError> {
        if keep {
            debug!(table = %self.cfg.table, "keeping nftables table");
            return Ok(());
        }
        self.delete_table()
    }
}
