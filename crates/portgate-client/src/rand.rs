//! Randomness for PCP nonces and retransmission jitter, from std only.
//!
//! `RandomState` is seeded from the operating system's generator once per thread and
//! its keys are advanced for every new instance; hashing a counter and the clock
//! through it gives unpredictable 64-bit values without an extra dependency.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// Pointer-sized: 32-bit MIPS has no 64-bit atomics (a wrap after 2^32 values is harmless:
/// every `RandomState` has new keys anyway).
static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn next_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_usize(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(d) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

/// Twelve random bytes: a PCP mapping nonce (RFC 6887 §11.1).
pub fn nonce() -> [u8; 12] {
    let a = next_u64().to_le_bytes();
    let b = next_u64().to_le_bytes();
    let mut out = [0u8; 12];
    for (o, i) in out.iter_mut().zip(a.iter().chain(b.iter())) {
        *o = *i;
    }
    out
}

/// A value in [-0.1, 0.1]: the RAND of RFC 6887 §8.1.1.
pub fn jitter() -> f64 {
    // 53 random bits mapped to [0, 1), then to [-0.1, 0.1).
    let unit = (next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (unit * 2.0 - 1.0) * 0.1
}

/// A duration in [0, `max`): spreads clients that react to the same event.
pub fn below(max: Duration) -> Duration {
    let unit = (next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    max.mul_f64(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_differ_and_jitter_is_bounded() {
        assert_ne!(nonce(), nonce());
        for _ in 0..1000 {
            assert!(below(Duration::from_secs(5)) < Duration::from_secs(5));
        }
        for _ in 0..1000 {
            let j = jitter();
            assert!((-0.1..=0.1).contains(&j));
        }
    }
}
