//! The sans-IO shape shared by the NAT-PMP and PCP clients: one request, sent and
//! retransmitted on a schedule, answered by one datagram.
//!
//! A driver (the blocking one in [`crate::blocking`], the async one behind the
//! `tokio` feature) only moves bytes and time:
//!
//! ```text
//! loop {
//!     if let Some(r) = t.poll_result() { return r }
//!     while let Some(bytes) = t.poll_transmit(now) { send bytes to t.server() }
//!     wait for a datagram until t.poll_timeout():
//!         datagram -> t.handle_datagram(now, from, bytes)
//!         timeout  -> t.handle_timeout(now)
//! }
//! ```

use std::net::SocketAddr;
use std::time::Instant;

use crate::error::ClientError;

/// A request/response exchange over UDP, without I/O.
pub trait Transaction {
    /// What a successful exchange yields.
    type Output;

    /// Where requests go (datagrams from any other address are ignored).
    fn server(&self) -> SocketAddr;

    /// The bytes to send now, if a (re)transmission is due at `now`.
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>>;

    /// When the driver must call [`Transaction::handle_timeout`] at the latest.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Time passed: a retransmission may become due, or the exchange may give up.
    fn handle_timeout(&mut self, now: Instant);

    /// A datagram arrived from `from`. Replies from another source, to another
    /// request, or that do not parse are ignored (logged at debug).
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]);

    /// The outcome, once there is one.
    fn poll_result(&mut self) -> Option<Result<Self::Output, ClientError>>;
}
