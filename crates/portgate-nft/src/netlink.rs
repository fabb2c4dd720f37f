//! Netlink framing for the nf_tables subsystem: message and attribute encoding, a
//! bounds-checked attribute reader, and a blocking `NETLINK_NETFILTER` socket that sends
//! batches and collects one acknowledgement per message.
//!
//! Wire facts (linux/netlink.h, linux/netfilter/nfnetlink.h): every message starts with a
//! 16-byte `nlmsghdr` in host byte order, then for nfnetlink a 4-byte `nfgenmsg`
//! (family, version, resource id in network order); attributes are
//! `{len: u16, type: u16, payload}` padded to 4 bytes; nf_tables integers are big-endian.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use crate::FirewallError;

/// `NLMSG_ERROR`: an error or an acknowledgement.
pub(crate) const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: end of a dump.
pub(crate) const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST`.
pub(crate) const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_ACK`.
pub(crate) const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
pub(crate) const NLM_F_DUMP: u16 = 0x300;
/// `NLM_F_CREATE`.
pub(crate) const NLM_F_CREATE: u16 = 0x400;
/// `NLM_F_APPEND`.
pub(crate) const NLM_F_APPEND: u16 = 0x800;
/// `NLA_F_NESTED`: set on nested attributes.
const NLA_F_NESTED: u16 = 0x8000;
/// Mask that strips `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` from an attribute type.
const NLA_TYPE_MASK: u16 = 0x3fff;
/// `NFNL_MSG_BATCH_BEGIN`.
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
/// `NFNL_MSG_BATCH_END`.
const NFNL_MSG_BATCH_END: u16 = 0x11;
/// `NFNL_SUBSYS_NFTABLES`: the high byte of every nf_tables message type.
pub(crate) const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// Size of `struct nlmsghdr`.
pub(crate) const NLMSG_HDR_LEN: usize = 16;
/// Size of `struct nfgenmsg`.
pub(crate) const NFGEN_LEN: usize = 4;

/// Receive buffer size: a dump part from the kernel is at most a few pages.
const RECV_BUF_LEN: usize = 256 * 1024;
/// Socket buffer sizes asked for, so that a batch of [`crate::MAX_BATCH_CHANGES`]
/// changes and its acknowledgements fit without loss.
const SOCKET_BUF_LEN: usize = 4 * 1024 * 1024;
/// How long to wait for the kernel's answer before giving up.
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Writes attributes into a growing message buffer.
pub(crate) struct AttrWriter<'a> {
    buf: &'a mut Vec<u8>,
}

impl AttrWriter<'_> {
    fn header(&mut self, ty: u16, payload_len: usize) {
        let len = u16::try_from(4 + payload_len).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
    }

    fn pad(&mut self) {
        let padded = align4(self.buf.len());
        self.buf.resize(padded, 0);
    }

    /// A raw byte attribute.
    pub(crate) fn bytes(&mut self, ty: u16, value: &[u8]) {
        self.header(ty, value.len());
        self.buf.extend_from_slice(value);
        self.pad();
    }

    /// A NUL-terminated string attribute.
    pub(crate) fn string(&mut self, ty: u16, value: &str) {
        self.header(ty, value.len() + 1);
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    /// A big-endian u32 attribute.
    pub(crate) fn u32_be(&mut self, ty: u16, value: u32) {
        self.bytes(ty, &value.to_be_bytes());
    }

    /// A big-endian u64 attribute.
    pub(crate) fn u64_be(&mut self, ty: u16, value: u64) {
        self.bytes(ty, &value.to_be_bytes());
    }

    /// A nested attribute whose content `f` writes.
    pub(crate) fn nested(&mut self, ty: u16, f: impl FnOnce(&mut AttrWriter<'_>)) {
        let start = self.buf.len();
        self.header(ty | NLA_F_NESTED, 0);
        f(&mut AttrWriter { buf: self.buf });
        let len = u16::try_from(self.buf.len() - start).unwrap_or(u16::MAX);
        if let Some(slot) = self.buf.get_mut(start..start + 2) {
            slot.copy_from_slice(&len.to_ne_bytes());
        }
    }
}

/// A batch of nf_tables messages framed by `NFNL_MSG_BATCH_BEGIN` / `END`; every inner
/// message asks for an acknowledgement.
pub(crate) struct Batch {
    buf: Vec<u8>,
    next_seq: u32,
    /// Every inner message, in order.
    pending: Vec<Pending>,
}

/// One inner message of a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    /// Its sequence number.
    pub(crate) seq: u32,
    /// What it does, for errors and logs.
    pub(crate) what: &'static str,
    /// A deletion whose `ENOENT` only means that the object is already gone (the
    /// pre-6.3 way of saying `DESTROY`): see [`Batch::without`].
    pub(crate) absent_ok: bool,
    /// Its bytes in the buffer.
    range: std::ops::Range<usize>,
}

impl Batch {
    /// Starts a batch whose first message uses sequence number `seq`.
    pub(crate) fn new(seq: u32) -> Self {
        let mut b = Batch {
            buf: Vec::with_capacity(256),
            next_seq: seq,
            pending: Vec::new(),
        };
        b.raw_message(
            NFNL_MSG_BATCH_BEGIN,
            0,
            NLM_F_REQUEST,
            NFNL_SUBSYS_NFTABLES,
            |_| {},
        );
        b
    }

    fn raw_message(
        &mut self,
        ty: u16,
        family: u8,
        flags: u16,
        res_id: u16,
        f: impl FnOnce(&mut AttrWriter<'_>),
    ) -> u32 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.push(family);
        self.buf.push(0); // NFNETLINK_V0
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        f(&mut AttrWriter { buf: &mut self.buf });
        let len = u32::try_from(self.buf.len() - start).unwrap_or(u32::MAX);
        if let Some(slot) = self.buf.get_mut(start..start + 4) {
            slot.copy_from_slice(&len.to_ne_bytes());
        }
        seq
    }

    /// Appends an nf_tables message (`msg` is an `NFT_MSG_*` value).
    pub(crate) fn message(
        &mut self,
        msg: u8,
        family: u8,
        flags: u16,
        what: &'static str,
        f: impl FnOnce(&mut AttrWriter<'_>),
    ) {
        self.push(msg, family, flags, what, false, f);
    }

    /// Appends a deletion that may find its object already gone: `ENOENT` for it does
    /// not fail the transaction (see [`Batch::without`]). Kernels from 6.3 on have
    /// `DESTROY` messages for this; older ones only `DEL`.
    pub(crate) fn delete(
        &mut self,
        msg: u8,
        family: u8,
        what: &'static str,
        f: impl FnOnce(&mut AttrWriter<'_>),
    ) {
        self.push(msg, family, 0, what, true, f);
    }

    fn push(
        &mut self,
        msg: u8,
        family: u8,
        flags: u16,
        what: &'static str,
        absent_ok: bool,
        f: impl FnOnce(&mut AttrWriter<'_>),
    ) {
        let ty = (NFNL_SUBSYS_NFTABLES << 8) | u16::from(msg);
        let start = self.buf.len();
        let seq = self.raw_message(ty, family, flags | NLM_F_REQUEST | NLM_F_ACK, 0, f);
        self.pending.push(Pending {
            seq,
            what,
            absent_ok,
            range: start..self.buf.len(),
        });
    }

    /// The inner messages.
    pub(crate) fn pending(&self) -> &[Pending] {
        &self.pending
    }

    /// The same batch without the messages whose sequence numbers are in `drop`, its
    /// messages renumbered from `seq`. The kernel runs a batch as one transaction and
    /// aborts all of it when one message fails; before Linux 6.3 a deletion of an
    /// element the kernel already expired fails with `ENOENT`, so such a batch is sent
    /// again without those deletions (their objects are gone, which is what they asked).
    pub(crate) fn without(&self, drop: &[u32], seq: u32) -> Batch {
        let mut b = Batch::new(seq);
        for p in self.pending.iter().filter(|p| !drop.contains(&p.seq)) {
            let Some(bytes) = self.buf.get(p.range.clone()) else {
                continue;
            };
            let start = b.buf.len();
            b.buf.extend_from_slice(bytes);
            let new_seq = b.next_seq;
            b.next_seq = b.next_seq.wrapping_add(1);
            if let Some(slot) = b.buf.get_mut(start + 8..start + 12) {
                slot.copy_from_slice(&new_seq.to_ne_bytes());
            }
            b.pending.push(Pending {
                seq: new_seq,
                what: p.what,
                absent_ok: p.absent_ok,
                range: start..b.buf.len(),
            });
        }
        b
    }

    /// The batch's bytes, closed by the end message, and the next free sequence number.
    pub(crate) fn finish(&self) -> (Vec<u8>, u32) {
        let mut closed = Batch {
            buf: self.buf.clone(),
            next_seq: self.next_seq,
            pending: Vec::new(),
        };
        closed.raw_message(
            NFNL_MSG_BATCH_END,
            0,
            NLM_F_REQUEST,
            NFNL_SUBSYS_NFTABLES,
            |_| {},
        );
        (closed.buf, closed.next_seq)
    }
}

/// Builds a single (non-batched) nf_tables request, e.g. a dump.
pub(crate) fn request(
    msg: u8,
    family: u8,
    flags: u16,
    seq: u32,
    f: impl FnOnce(&mut AttrWriter<'_>),
) -> Vec<u8> {
    let mut b = Batch {
        buf: Vec::with_capacity(128),
        next_seq: seq,
        pending: Vec::new(),
    };
    let ty = (NFNL_SUBSYS_NFTABLES << 8) | u16::from(msg);
    b.raw_message(ty, family, flags | NLM_F_REQUEST, 0, f);
    b.buf
}

/// One netlink message seen in a receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NlMsg<'a> {
    /// `nlmsg_type`.
    pub(crate) ty: u16,
    /// `nlmsg_seq`.
    pub(crate) seq: u32,
    /// Everything after the 16-byte header.
    pub(crate) payload: &'a [u8],
}

/// Splits a receive buffer into netlink messages.
pub(crate) fn messages(mut data: &[u8]) -> impl Iterator<Item = Result<NlMsg<'_>, FirewallError>> {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let parsed = (|| {
            let hdr = data
                .get(..NLMSG_HDR_LEN)
                .ok_or(FirewallError::Decode("short header"))?;
            let len = u32::from_ne_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
            let ty = u16::from_ne_bytes([hdr[4], hdr[5]]);
            let seq = u32::from_ne_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]);
            if len < NLMSG_HDR_LEN {
                return Err(FirewallError::Decode("message length below header size"));
            }
            let payload = data
                .get(NLMSG_HDR_LEN..len)
                .ok_or(FirewallError::Decode("truncated message"))?;
            let rest = data.get(align4(len).min(data.len())..).unwrap_or(&[]);
            Ok((NlMsg { ty, seq, payload }, rest))
        })();
        match parsed {
            Ok((msg, rest)) => {
                data = rest;
                Some(Ok(msg))
            }
            Err(e) => {
                data = &[];
                Some(Err(e))
            }
        }
    })
}

/// Iterates over the attributes of `data` (type with flags masked off, payload).
pub(crate) fn attrs(mut data: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), FirewallError>> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            // Trailing bytes shorter than an attribute header are padding.
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([data[0], data[1]]));
        let ty = u16::from_ne_bytes([data[2], data[3]]) & NLA_TYPE_MASK;
        let Some(payload) = data.get(4..len).filter(|_| len >= 4) else {
            data = &[];
            return Some(Err(FirewallError::Decode("bad attribute length")));
        };
        data = data.get(align4(len).min(data.len())..).unwrap_or(&[]);
        Some(Ok((ty, payload)))
    })
}

/// Reads a big-endian u64 attribute payload.
pub(crate) fn be_u64(p: &[u8]) -> Result<u64, FirewallError> {
    let arr: [u8; 8] = p
        .try_into()
        .map_err(|_| FirewallError::Decode("u64 attribute size"))?;
    Ok(u64::from_be_bytes(arr))
}

/// The errno carried by an `NLMSG_ERROR` payload (0 = acknowledgement) and the sequence
/// number of the message it answers.
pub(crate) fn parse_error(payload: &[u8]) -> Result<(i32, u32), FirewallError> {
    let e = payload
        .get(..4)
        .ok_or(FirewallError::Decode("short error message"))?;
    let errno = -i32::from_ne_bytes([e[0], e[1], e[2], e[3]]);
    let s = payload
        .get(12..16)
        .ok_or(FirewallError::Decode("short error message"))?;
    Ok((errno, u32::from_ne_bytes([s[0], s[1], s[2], s[3]])))
}

/// A blocking `NETLINK_NETFILTER` socket.
#[derive(Debug)]
pub(crate) struct NlSocket {
    fd: OwnedFd,
    buf: Vec<u8>,
}

/// A new `NETLINK_NETFILTER` socket (not yet bound) in the calling thread's namespace.
pub(crate) fn netfilter_socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        Some(rustix::net::netlink::NETFILTER),
    )?)
}

impl NlSocket {
    /// Opens and binds a socket in the calling thread's network namespace.
    pub(crate) fn open() -> io::Result<Self> {
        let fd = netfilter_socket()?;
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, 0))?;
        // Larger buffers are a nicety (batches of many changes); the defaults still work.
        if rustix::net::sockopt::set_socket_send_buffer_size_force(&fd, SOCKET_BUF_LEN).is_err() {
            let _ = rustix::net::sockopt::set_socket_send_buffer_size(&fd, SOCKET_BUF_LEN);
        }
        if rustix::net::sockopt::set_socket_recv_buffer_size_force(&fd, SOCKET_BUF_LEN).is_err() {
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&fd, SOCKET_BUF_LEN);
        }
        rustix::net::sockopt::set_socket_timeout(
            &fd,
            rustix::net::sockopt::Timeout::Recv,
            Some(REPLY_TIMEOUT),
        )?;
        Ok(NlSocket {
            fd,
            buf: vec![0; RECV_BUF_LEN],
        })
    }

    /// Sends `bytes` to the kernel.
    pub(crate) fn send(&self, bytes: &[u8]) -> Result<(), FirewallError> {
        let sent = rustix::net::sendto(
            &self.fd,
            bytes,
            SendFlags::empty(),
            &SocketAddrNetlink::new(0, 0),
        )
        .map_err(io::Error::from)?;
        if sent != bytes.len() {
            return Err(FirewallError::Io(io::Error::other("short netlink send")));
        }
        Ok(())
    }

    /// Receives one datagram (possibly several messages).
    pub(crate) fn recv(&mut self) -> Result<&[u8], FirewallError> {
        match rustix::net::recv(&self.fd, &mut self.buf[..], RecvFlags::empty()) {
            Ok((n, _)) => Ok(self.buf.get(..n).unwrap_or(&[])),
            Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::WOULDBLOCK => {
                Err(FirewallError::Timeout(REPLY_TIMEOUT))
            }
            Err(e) => Err(FirewallError::Io(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_framing() {
        let mut b = Batch::new(7);
        b.message(0, 1, NLM_F_CREATE, "table", |w| w.string(1, "pg"));
        let pending: Vec<_> = b.pending().iter().map(|p| (p.seq, p.what)).collect();
        assert_eq!(pending, vec![(8, "table")]);
        let (bytes, next) = b.finish();
        assert_eq!(next, 10);
        let msgs: Vec<_> = messages(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].ty, NFNL_MSG_BATCH_BEGIN);
        // res_id of the batch begin is the nftables subsystem, big-endian.
        assert_eq!(msgs[0].payload, &[0, 0, 0, 10]);
        assert_eq!(msgs[1].ty, 10 << 8);
        assert_eq!(msgs[1].seq, 8);
        // nfgenmsg(family 1) + attribute {len 7, type 1, "pg\0"} padded to 8.
        assert_eq!(msgs[1].payload, &[1, 0, 0, 0, 7, 0, 1, 0, b'p', b'g', 0, 0]);
        assert_eq!(msgs[2].ty, NFNL_MSG_BATCH_END);
        // flags on the inner message: request + ack + create.
        let flags = u16::from_ne_bytes([bytes[16 + 4 + 6], bytes[16 + 4 + 7]]);
        assert_eq!(flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE);
    }

    #[test]
    fn batch_without_drops_and_renumbers() {
        let mut b = Batch::new(1);
        b.delete(8, 1, "delete a", |w| w.string(1, "a"));
        b.message(6, 1, NLM_F_CREATE, "add b", |w| w.string(1, "b"));
        b.delete(8, 1, "delete c", |w| w.string(1, "c"));
        let flags: Vec<_> = b.pending().iter().map(|p| p.absent_ok).collect();
        assert_eq!(flags, vec![true, false, true]);
        // Drop the first deletion; the rest is renumbered from 20.
        let again = b.without(&[2], 20);
        let left: Vec<_> = again
            .pending()
            .iter()
            .map(|p| (p.seq, p.what, p.absent_ok))
            .collect();
        assert_eq!(left, vec![(21, "add b", false), (22, "delete c", true)]);
        let (bytes, next) = again.finish();
        assert_eq!(next, 24);
        let msgs: Vec<_> = messages(&bytes).collect::<Result<_, _>>().unwrap();
        let seqs: Vec<_> = msgs.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![20, 21, 22, 23]);
        assert_eq!(msgs[1].ty, (10 << 8) | 6);
        assert_eq!(msgs[1].payload, &[1, 0, 0, 0, 6, 0, 1, 0, b'b', 0, 0, 0]);
        assert_eq!(msgs[2].payload, &[1, 0, 0, 0, 6, 0, 1, 0, b'c', 0, 0, 0]);
        // A deletion carries no create flag.
        let flags = u16::from_ne_bytes([
            bytes[msgs_offset(&bytes, 2) + 6],
            bytes[msgs_offset(&bytes, 2) + 7],
        ]);
        assert_eq!(flags, NLM_F_REQUEST | NLM_F_ACK);
    }

    /// Byte offset of the `n`th message in a buffer.
    fn msgs_offset(bytes: &[u8], n: usize) -> usize {
        let mut off = 0;
        for _ in 0..n {
            let len = u32::from_ne_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
            off += align4(len);
        }
        off
    }

    #[test]
    fn nested_attributes_round_trip() {
        let mut buf = Vec::new();
        let mut w = AttrWriter { buf: &mut buf };
        w.nested(3, |w| {
            w.u32_be(1, 0x0102_0304);
            w.u64_be(2, 9);
        });
        let outer: Vec<_> = attrs(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(outer.len(), 1);
        assert_eq!(outer[0].0, 3);
        let inner: Vec<_> = attrs(outer[0].1).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            inner,
            vec![(1, &[1, 2, 3, 4][..]), (2, &9u64.to_be_bytes()[..])]
        );
    }

    #[test]
    fn hostile_attribute_lengths() {
        // Length larger than the buffer.
        let bad = [20u8, 0, 1, 0, 0, 0];
        assert!(matches!(
            attrs(&bad).next(),
            Some(Err(FirewallError::Decode(_)))
        ));
        // Length below the header size.
        let bad = [2u8, 0, 1, 0];
        assert!(matches!(
            attrs(&bad).next(),
            Some(Err(FirewallError::Decode(_)))
        ));
        // Short tail is ignored as padding.
        assert!(attrs(&[1, 2]).next().is_none());
    }

    #[test]
    fn hostile_messages() {
        let mut short = vec![0u8; 16];
        short[0] = 8; // length below header size
        assert!(matches!(
            messages(&short).next(),
            Some(Err(FirewallError::Decode(_)))
        ));
        let mut trunc = vec![0u8; 16];
        trunc[0] = 40; // claims 40 bytes, has 16
        assert!(matches!(
            messages(&trunc).next(),
            Some(Err(FirewallError::Decode(_)))
        ));
        assert!(matches!(
            messages(&[1, 2, 3]).next(),
            Some(Err(FirewallError::Decode(_)))
        ));
        assert!(parse_error(&[0; 10]).is_err());
    }

    #[test]
    fn error_payload() {
        let mut p = Vec::new();
        p.extend_from_slice(&(-2i32).to_ne_bytes());
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&77u32.to_ne_bytes());
        p.extend_from_slice(&[0; 4]);
        assert_eq!(parse_error(&p).unwrap(), (2, 77));
    }
}
