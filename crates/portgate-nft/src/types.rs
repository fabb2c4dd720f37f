//! Mapping and pinhole types, and their encoding as nf_tables set keys and data.
//!
//! Concatenated keys follow the kernel's register layout: every component starts on a
//! 4-byte boundary, values in network byte order, padding zero.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::FirewallError;

/// A transport protocol number (IANA "Protocol Numbers", as in the IP header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct L4Proto(pub u8);

impl L4Proto {
    /// TCP (6).
    pub const TCP: L4Proto = L4Proto(6);
    /// UDP (17).
    pub const UDP: L4Proto = L4Proto(17);
}

/// What identifies an IPv4 port mapping on the WAN side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MappingKey {
    /// Transport protocol.
    pub proto: L4Proto,
    /// External (WAN) port.
    pub external_port: u16,
    /// Only this remote host may use the mapping (UPnP `NewRemoteHost`); `None` = any.
    /// Ignored when `external` is set (the `fwd4c` map has no remote host component:
    /// callers must not combine the two).
    pub remote: Option<Ipv4Addr>,
    /// Only traffic to this external (destination) address uses the mapping: CGN mode,
    /// where each pool address has its own port space (map `fwd4c`, keyed
    /// `ipv4_addr . inet_proto . inet_service`). `None`: any address of the WAN
    /// interface (maps `fwd4` and `fwd4r`).
    pub external: Option<Ipv4Addr>,
}

/// An IPv4 port mapping: traffic to the external port goes to the internal host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mapping {
    /// The WAN-side key.
    pub key: MappingKey,
    /// LAN host.
    pub internal_addr: Ipv4Addr,
    /// LAN port.
    pub internal_port: u16,
    /// Lease: the kernel deletes the mapping after this long; `None` = permanent.
    pub timeout: Option<Duration>,
}

/// A mapping as found in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingEntry {
    /// The mapping (its `timeout` is the one it was put with).
    pub mapping: Mapping,
    /// Time left before the kernel removes it; `None` for a permanent mapping.
    pub expires_in: Option<Duration>,
    /// Packets DNATed by it since it was put (connections' first packets).
    pub packets: u64,
    /// Bytes DNATed by it since it was put.
    pub bytes: u64,
}

/// What identifies an IPv6 pinhole (RFC 6887 / IGD:2 WANIPv6FirewallControl).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PinholeKey {
    /// LAN host that accepts inbound traffic.
    pub internal_addr: Ipv6Addr,
    /// Transport protocol.
    pub proto: L4Proto,
    /// LAN host's port.
    pub internal_port: u16,
    /// Only this remote host may use it; `None` = any.
    pub remote: Option<Ipv6Addr>,
    /// Only traffic from this remote (source) port may use it; 0 = any.
    pub remote_port: u16,
}

/// An IPv6 pinhole: inbound traffic to the internal address and port is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pinhole {
    /// What it opens.
    pub key: PinholeKey,
    /// Lease; `None` = permanent.
    pub timeout: Option<Duration>,
}

/// A pinhole as found in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinholeEntry {
    /// The pinhole.
    pub pinhole: Pinhole,
    /// Time left; `None` for a permanent one.
    pub expires_in: Option<Duration>,
    /// Packets accepted through it.
    pub packets: u64,
    /// Bytes accepted through it.
    pub bytes: u64,
}

/// One change inside a transaction ([`crate::Firewall::apply`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Add or replace a mapping.
    Put(Mapping),
    /// Delete a mapping (absent is fine).
    Remove(MappingKey),
    /// Add or replace a pinhole.
    PutPinhole(Pinhole),
    /// Delete a pinhole (absent is fine).
    RemovePinhole(PinholeKey),
}

/// What [`crate::Firewall::reconcile`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Wanted mappings already in the kernel with the same target (put again to set
    /// their timeout).
    pub adopted: usize,
    /// Wanted mappings that were missing.
    pub added: usize,
    /// Kernel mappings that were not wanted (or pointed elsewhere) and were deleted.
    pub removed: usize,
}

pub(crate) struct ReconcilePlan {
    pub(crate) changes: Vec<Change>,
    pub(crate) report: ReconcileReport,
}

/// Changes that turn `current` into `wanted` (later duplicates in `wanted` win).
pub(crate) fn reconcile_plan(current: &[MappingEntry], wanted: &[Mapping]) -> ReconcilePlan {
    let mut want: HashMap<MappingKey, &Mapping> = HashMap::new();
    for m in wanted {
        want.insert(m.key, m);
    }
    let mut report = ReconcileReport::default();
    let mut changes = Vec::new();
    let mut present: HashMap<MappingKey, (Ipv4Addr, u16)> = HashMap::new();
    for e in current {
        let m = &e.mapping;
        match want.get(&m.key) {
            Some(w) if (w.internal_addr, w.internal_port) == (m.internal_addr, m.internal_port) => {
                present.insert(m.key, (m.internal_addr, m.internal_port));
            }
            // A different target is replaced by the Put below.
            Some(_) => {}
            None => {
                report.removed += 1;
                changes.push(Change::Remove(m.key));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for m in wanted.iter().rev() {
        if !seen.insert(m.key) {
            continue;
        }
        if present.contains_key(&m.key) {
            report.adopted += 1;
        } else {
            report.added += 1;
        }
        changes.push(Change::Put(*m));
    }
    ReconcilePlan { changes, report }
}

/// Key of `fwd4`: l4proto (padded to 4) . port (padded to 4).
pub(crate) fn fwd4_key(proto: L4Proto, port: u16) -> [u8; 8] {
    let p = port.to_be_bytes();
    [proto.0, 0, 0, 0, p[0], p[1], 0, 0]
}

/// Key of `fwd4r`: remote ipv4 . l4proto . port.
pub(crate) fn fwd4r_key(remote: Ipv4Addr, proto: L4Proto, port: u16) -> [u8; 12] {
    let a = remote.octets();
    let p = port.to_be_bytes();
    [a[0], a[1], a[2], a[3], proto.0, 0, 0, 0, p[0], p[1], 0, 0]
}

/// Key of `fwd4c`: external (destination) ipv4 . l4proto . port; the same layout as
/// [`fwd4r_key`], in another map.
pub(crate) fn fwd4c_key(external: Ipv4Addr, proto: L4Proto, port: u16) -> [u8; 12] {
    fwd4r_key(external, proto, port)
}

/// Data of the maps: internal ipv4 . internal port.
pub(crate) fn fwd4_data(addr: Ipv4Addr, port: u16) -> [u8; 8] {
    let a = addr.octets();
    let p = port.to_be_bytes();
    [a[0], a[1], a[2], a[3], p[0], p[1], 0, 0]
}

/// Key of the pinhole sets: [remote ipv6 .] internal ipv6 . l4proto . port [. remote
/// port]: `pin6` (24 bytes), `pin6r` (40), `pin6p` (28) or `pin6rp` (44), the remote
/// components present when the key restricts them.
pub(crate) fn pin6_key(k: &PinholeKey) -> Vec<u8> {
    let mut v = Vec::with_capacity(44);
    if let Some(r) = k.remote {
        v.extend_from_slice(&r.octets());
    }
    v.extend_from_slice(&k.internal_addr.octets());
    v.extend_from_slice(&[k.proto.0, 0, 0, 0]);
    v.extend_from_slice(&k.internal_port.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    if k.remote_port != 0 {
        v.extend_from_slice(&k.remote_port.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
    }
    v
}

fn arr<const N: usize>(b: &[u8]) -> Result<[u8; N], FirewallError> {
    b.try_into()
        .map_err(|_| FirewallError::Decode("unexpected set key or data length"))
}

/// Decodes a `fwd4` / `fwd4r` key (told apart by length).
pub(crate) fn decode_fwd4_key(b: &[u8]) -> Result<MappingKey, FirewallError> {
    match b.len() {
        8 => {
            let k: [u8; 8] = arr(b)?;
            Ok(MappingKey {
                proto: L4Proto(k[0]),
                external_port: u16::from_be_bytes([k[4], k[5]]),
                remote: None,
                external: None,
            })
        }
        12 => {
            let k: [u8; 12] = arr(b)?;
            Ok(MappingKey {
                proto: L4Proto(k[4]),
                external_port: u16::from_be_bytes([k[8], k[9]]),
                remote: Some(Ipv4Addr::new(k[0], k[1], k[2], k[3])),
                external: None,
            })
        }
        _ => Err(FirewallError::Decode("unexpected set key or data length")),
    }
}

/// Decodes a `fwd4c` key (12 bytes: external ipv4 . l4proto . port).
pub(crate) fn decode_fwd4c_key(b: &[u8]) -> Result<MappingKey, FirewallError> {
    let k: [u8; 12] = arr(b)?;
    Ok(MappingKey {
        proto: L4Proto(k[4]),
        external_port: u16::from_be_bytes([k[8], k[9]]),
        remote: None,
        external: Some(Ipv4Addr::new(k[0], k[1], k[2], k[3])),
    })
}

/// Decodes map data into (internal address, internal port).
pub(crate) fn decode_fwd4_data(b: &[u8]) -> Result<(Ipv4Addr, u16), FirewallError> {
    let d: [u8; 8] = arr(b)?;
    Ok((
        Ipv4Addr::new(d[0], d[1], d[2], d[3]),
        u16::from_be_bytes([d[4], d[5]]),
    ))
}

/// Decodes a `pin6` (24 bytes), `pin6r` (40), `pin6p` (28) or `pin6rp` (44) key.
pub(crate) fn decode_pin6_key(b: &[u8]) -> Result<PinholeKey, FirewallError> {
    let (remote, rest) = match b.len() {
        24 | 28 => (None, b),
        40 | 44 => {
            let (r, rest) = b.split_at(16);
            (Some(Ipv6Addr::from(arr::<16>(r)?)), rest)
        }
        _ => return Err(FirewallError::Decode("unexpected set key or data length")),
    };
    let (rest, remote_port) = match rest.split_at_checked(24) {
        Some((k, [p0, p1, 0, 0])) if [*p0, *p1] != [0, 0] => (k, u16::from_be_bytes([*p0, *p1])),
        Some((k, [])) => (k, 0),
        _ => return Err(FirewallError::Decode("unexpected set key or data length")),
    };
    let k: [u8; 24] = arr(rest)?;
    let (a, tail) = k.split_at(16);
    Ok(PinholeKey {
        internal_addr: Ipv6Addr::from(arr::<16>(a)?),
        proto: L4Proto(tail[0]),
        internal_port: u16::from_be_bytes([tail[4], tail[5]]),
        remote,
        remote_port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn key_layout_matches_nft_registers() {
        // `nft --debug=netlink` shows `meta l4proto` in one 32-bit register and the 2-byte
        // port in the next: tcp/8080 -> 06 00 00 00 1f 90 00 00.
        assert_eq!(fwd4_key(L4Proto::TCP, 8080), [6, 0, 0, 0, 0x1f, 0x90, 0, 0]);
        assert_eq!(
            fwd4r_key(Ipv4Addr::new(203, 0, 113, 9), L4Proto::UDP, 53),
            [203, 0, 113, 9, 17, 0, 0, 0, 0, 53, 0, 0]
        );
        assert_eq!(
            fwd4_data(Ipv4Addr::new(10, 0, 0, 2), 22),
            [10, 0, 0, 2, 0, 22, 0, 0]
        );
    }

    #[test]
    fn hostile_lengths() {
        assert!(decode_fwd4_key(&[0; 7]).is_err());
        assert!(decode_fwd4_key(&[]).is_err());
        assert!(decode_fwd4c_key(&[0; 8]).is_err());
        assert!(decode_fwd4_data(&[0; 9]).is_err());
        assert!(decode_pin6_key(&[0; 25]).is_err());
        // A remote-port component of 0 is not a key we write (0 means any port).
        assert!(decode_pin6_key(&[0; 28]).is_err());
        assert!(decode_pin6_key(&[0; 44]).is_err());
    }

    fn mapping(port: u16, iport: u16) -> Mapping {
        Mapping {
            key: MappingKey {
                proto: L4Proto::TCP,
                external_port: port,
                remote: None,
                external: None,
            },
            internal_addr: Ipv4Addr::new(10, 0, 0, 2),
            internal_port: iport,
            timeout: None,
        }
    }

    #[test]
    fn reconcile_plan_adopts_adds_removes() {
        let entry = |m: Mapping| MappingEntry {
            mapping: m,
            expires_in: None,
            packets: 0,
            bytes: 0,
        };
        let current = [
            entry(mapping(1, 1)),
            entry(mapping(2, 2)),
            entry(mapping(3, 3)),
        ];
        // 1 same target (adopt), 2 different target (replace = add), 3 gone, 4 new.
        let wanted = [mapping(1, 1), mapping(2, 20), mapping(4, 4)];
        let plan = reconcile_plan(&current, &wanted);
        assert_eq!(
            plan.report,
            ReconcileReport {
                adopted: 1,
                added: 2,
                removed: 1
            }
        );
        assert!(plan.changes.contains(&Change::Remove(mapping(3, 3).key)));
        assert!(plan.changes.contains(&Change::Put(mapping(2, 20))));
        assert_eq!(plan.changes.len(), 4);
    }

    proptest! {
        #[test]
        fn fwd4_round_trip(proto: u8, port: u16, remote: Option<[u8; 4]>, ia: [u8; 4], ip: u16) {
            let key = MappingKey {
                proto: L4Proto(proto),
                external_port: port,
                remote: remote.map(Ipv4Addr::from),
                external: None,
            };
            let kb = match key.remote {
                Some(r) => fwd4r_key(r, key.proto, port).to_vec(),
                None => fwd4_key(key.proto, port).to_vec(),
            };
            prop_assert_eq!(decode_fwd4_key(&kb).unwrap(), key);
            if let Some(a) = remote {
                let ck = MappingKey { remote: None, external: Some(Ipv4Addr::from(a)), ..key };
                let cb = fwd4c_key(Ipv4Addr::from(a), key.proto, port);
                prop_assert_eq!(decode_fwd4c_key(&cb).unwrap(), ck);
            }
            let d = fwd4_data(Ipv4Addr::from(ia), ip);
            prop_assert_eq!(decode_fwd4_data(&d).unwrap(), (Ipv4Addr::from(ia), ip));
        }

        #[test]
        fn pin6_round_trip(
            a: [u8; 16],
            proto: u8,
            port: u16,
            remote: Option<[u8; 16]>,
            remote_port: u16,
        ) {
            let key = PinholeKey {
                internal_addr: Ipv6Addr::from(a),
                proto: L4Proto(proto),
                internal_port: port,
                remote: remote.map(Ipv6Addr::from),
                remote_port,
            };
            prop_assert_eq!(decode_pin6_key(&pin6_key(&key)).unwrap(), key);
        }

        #[test]
        fn decoders_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_fwd4_key(&b);
            let _ = decode_fwd4_data(&b);
            let _ = decode_pin6_key(&b);
        }
    }
}
