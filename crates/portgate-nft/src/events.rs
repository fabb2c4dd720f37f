//! Notifications of nf_tables deletions: how the daemon learns, within moments and
//! without a client request, that someone else removed its rules, chains, sets or table
//! (a firewall reload such as OpenWrt's `fw4 reload`, an admin's `nft flush ruleset`).
//!
//! The kernel multicasts every committed nf_tables change to the `NFNLGRP_NFTABLES`
//! group of `NETLINK_NETFILTER` sockets in the same network namespace. That includes
//! every element the daemon itself adds or deletes, which under load is tens of
//! thousands of messages a second; a classic BPF socket filter therefore keeps only
//! the deletions of tables, chains, rules and sets (one message per notification, its
//! `nlmsg_type` at byte 4), so the socket stays quiet while the daemon works.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::RecvFlags;

use crate::netlink::{self, NFNL_SUBSYS_NFTABLES};
use crate::FirewallError;

/// `NFNLGRP_NFTABLES` (linux/netfilter/nfnetlink.h).
const NFNLGRP_NFTABLES: u32 = 7;

/// The message types let through: `NFT_MSG_DELTABLE`, `DELCHAIN`, `DELRULE`, `DELSET`
/// and their Linux 6.3+ `DESTROY` twins.
const WATCHED: [u8; 8] = [2, 5, 8, 11, 26, 27, 28, 29];

/// Receive buffer: notifications are small; a burst that overflows the socket is
/// reported as an event all the same ([`NftEvents::drain`]).
const RECV_BUF_LEN: usize = 64 * 1024;

/// A socket that receives the nf_tables deletions of the network namespace it was
/// opened in: [`NftEvents::wait`] blocks until some arrive (for a thread of its own),
/// [`NftEvents::drain`] never blocks.
#[derive(Debug)]
pub struct NftEvents {
    fd: OwnedFd,
    buf: Vec<u8>,
}

/// The BPF program: accept a message whose type is one of [`WATCHED`], drop the rest.
fn filter() -> Vec<libc::sock_filter> {
    // Classic BPF opcodes (linux/filter.h).
    const LD_H_ABS: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let n = u8::try_from(WATCHED.len()).unwrap_or(u8::MAX);
    let mut prog = vec![op(LD_H_ABS, 0, 0, 4)];
    for (i, msg) in (0u8..).zip(WATCHED) {
        // A BPF half-word load reads network byte order; nlmsg_type is host order.
        let ty = (NFNL_SUBSYS_NFTABLES << 8) | u16::from(msg);
        let k = u32::from(u16::from_be_bytes(ty.to_ne_bytes()));
        // Equal: jump over the remaining tests and the drop, to the accept.
        prog.push(op(JEQ_K, n - i, 0, k));
    }
    prog.push(op(RET_K, 0, 0, 0));
    prog.push(op(RET_K, 0, 0, u32::MAX));
    prog
}

impl NftEvents {
    /// Opens the socket in the calling thread's network namespace (the daemon's own).
    pub fn open() -> Result<Self, FirewallError> {
        Ok(Self::open_socket()?)
    }

    /// Opens the socket inside the network namespace `netns` (see
    /// [`crate::NftFirewall::open_in_netns`]).
    pub fn open_in_netns(netns: &str) -> Result<Self, FirewallError> {
        crate::nft::in_netns(netns, Self::open_socket)
    }

    fn open_socket() -> io::Result<Self> {
        let fd = netlink::netfilter_socket()?;
        // Filter first, so nothing unfiltered is queued between bind and attach.
        let sock = socket2::Socket::from(fd);
        sock.attach_filter(&filter())?;
        let fd = OwnedFd::from(sock);
        let groups = 1 << (NFNLGRP_NFTABLES - 1);
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, groups))?;
        Ok(NftEvents {
            fd,
            buf: vec![0; RECV_BUF_LEN],
        })
    }

    /// Blocks until at least one deletion of a table, chain, rule or set is seen,
    /// then reads whatever else is waiting; returns how many were seen.
    pub fn wait(&mut self) -> Result<usize, FirewallError> {
        loop {
            let seen = self.read(RecvFlags::empty())? + self.drain()?;
            if seen > 0 {
                return Ok(seen);
            }
        }
    }

    /// Reads every waiting notification without blocking and returns how many
    /// deletions of tables, chains, rules or sets were seen. Lost notifications (the
    /// socket overflowed) count as one: something may have been deleted.
    pub fn drain(&mut self) -> Result<usize, FirewallError> {
        let mut seen = 0;
        loop {
            match self.read(RecvFlags::DONTWAIT) {
                Ok(n) => seen += n,
                Err(FirewallError::Timeout(_)) => return Ok(seen),
                Err(e) => return Err(e),
            }
        }
    }

    /// One receive: the deletions in it (lost notifications count as one);
    /// `Timeout` when nothing is waiting on a non-blocking read.
    fn read(&mut self, flags: RecvFlags) -> Result<usize, FirewallError> {
        match rustix::net::recv(&self.fd, &mut self.buf[..], flags) {
            Ok((n, _)) => {
                let mut seen = 0;
                for msg in netlink::messages(self.buf.get(..n).unwrap_or(&[])) {
                    let ty = msg?.ty;
                    if ty >> 8 == NFNL_SUBSYS_NFTABLES
                        && WATCHED.iter().any(|&m| u16::from(m) == ty & 0xff)
                    {
                        seen += 1;
                    }
                }
                Ok(seen)
            }
            Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::WOULDBLOCK => {
                Err(FirewallError::Timeout(std::time::Duration::ZERO))
            }
            Err(e) if e == rustix::io::Errno::NOBUFS => Ok(1),
            Err(e) if e == rustix::io::Errno::INTR => Ok(0),
            Err(e) => Err(FirewallError::Io(e.into())),
        }
    }
}

impl AsFd for NftEvents {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the classic BPF program on one message header, as the kernel would.
    fn run(prog: &[libc::sock_filter], msg: &[u8]) -> u32 {
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            match i.code {
                0x28 => {
                    let k = i.k as usize;
                    acc = u32::from(u16::from_be_bytes([msg[k], msg[k + 1]]));
                    pc += 1;
                }
                0x15 => {
                    pc += 1 + usize::from(if acc == i.k { i.jt } else { i.jf });
                }
                0x06 => return i.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn header(ty: u16) -> Vec<u8> {
        let mut h = 20u32.to_ne_bytes().to_vec();
        h.extend_from_slice(&ty.to_ne_bytes());
        h.extend_from_slice(&[0; 14]);
        h
    }

    #[test]
    fn filter_keeps_deletions_of_tables_chains_rules_and_sets() {
        let prog = filter();
        for msg in WATCHED {
            let ty = (NFNL_SUBSYS_NFTABLES << 8) | u16::from(msg);
            assert_eq!(run(&prog, &header(ty)), u32::MAX, "type {msg}");
        }
        // NEWTABLE, NEWRULE, NEWSETELEM, DELSETELEM, NEWGEN, DESTROYSETELEM: dropped.
        for msg in [0u8, 6, 12, 14, 15, 30] {
            let ty = (NFNL_SUBSYS_NFTABLES << 8) | u16::from(msg);
            assert_eq!(run(&prog, &header(ty)), 0, "type {msg}");
        }
        // Another nfnetlink subsystem's message with the same low byte: dropped.
        assert_eq!(run(&prog, &header((1 << 8) | 2)), 0);
    }
}
