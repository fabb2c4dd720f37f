//! The daemon's time.
//!
//! Leases, expiry, epochs, rate limits and timers run on a monotonic clock: a router
//! without a real-time clock boots at an old date and steps its wall clock at NTP
//! sync, and such a step must change no lease (RFC 6886 section 3.6 and RFC 6887
//! section 8.5 define the epoch as seconds since the mapping state began, not wall
//! time). [`now`] is that clock, counted in seconds and anchored to the wall clock when
//! it is first read, so its values still read as unix times in logs and match the
//! wall clock until a step.
//!
//! Wall time is used only where it leaves the process: HTTP `Date` and SSDP `DATE`
//! headers, and the lease file, whose expiry field is unix time as miniupnpd writes
//! it. [`wall_offset`] says how far the wall clock has moved from ours; the gateway
//! adds it when writing a lease and so the file stays right after a step.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::gateway::Gateway;

/// The anchor: a monotonic instant and the wall time (ns since the epoch) it was.
static ANCHOR: OnceLock<(Instant, u128)> = OnceLock::new();

fn wall_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn anchor() -> (Instant, u128) {
    *ANCHOR.get_or_init(|| (Instant::now(), wall_nanos()))
}

fn now_nanos() -> u128 {
    let (at, wall) = anchor();
    wall + at.elapsed().as_nanos()
}

/// The daemon's monotonic time in seconds (reads as unix time until the wall clock
/// steps). Call it once at start-up before anything else, to set the anchor.
pub fn now() -> u64 {
    u64::try_from(now_nanos() / 1_000_000_000).unwrap_or(u64::MAX)
}

/// [`now`] with its sub-second part: the time the core's timers
/// ([`Gateway::poll_timeout`], [`Gateway::handle_timeout`]) are kept in.
/// `now_precise().as_secs() == now()`.
pub fn now_precise() -> std::time::Duration {
    let n = now_nanos();
    std::time::Duration::new(
        u64::try_from(n / 1_000_000_000).unwrap_or(u64::MAX),
        u32::try_from(n % 1_000_000_000).unwrap_or(0),
    )
}

/// Unix time in seconds, for what leaves the process (HTTP and SSDP dates).
pub fn wall_now() -> u64 {
    u64::try_from(wall_nanos() / 1_000_000_000).unwrap_or(0)
}

/// How many seconds the wall clock is ahead of [`now`] (negative: behind), rounded
/// to the nearest second: 0 until the wall clock is stepped.
pub fn wall_offset() -> i64 {
    let wall = i128::try_from(wall_nanos()).unwrap_or(i128::MAX);
    let ours = i128::try_from(now_nanos()).unwrap_or(i128::MAX);
    let diff = wall.saturating_sub(ours);
    let secs = (diff + diff.signum() * 500_000_000) / 1_000_000_000;
    i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX })
}

/// [`now`], after telling `gw` the current [`wall_offset`] (so the lease lines the
/// coming change writes carry wall time).
pub fn sync(gw: &mut Gateway) -> u64 {
    gw.set_wall_offset(wall_offset());
    now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_matches_the_wall_clock_until_it_steps() {
        let a = now();
        let w = wall_now();
        assert!(a.abs_diff(w) <= 1, "{a} vs {w}");
        assert_eq!(wall_offset(), 0);
        assert!(now() >= a);
    }
}
