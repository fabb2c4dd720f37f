//! Latency windows: a run of operations, reduced to a rate and percentiles.

use std::time::Duration;

use serde::Serialize;

/// One measured window of operations of one kind at one table size.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// What was done: `add`, `refresh`, `delete`, `get_generic`, `get_list`.
    pub op: String,
    /// Mappings in the table when the window was taken (for adds: the size reached
    /// at its end; for deletes: the size at its start).
    pub size: usize,
    /// Operations in the window.
    pub count: usize,
    /// Operations that failed (no answer, error code, fault).
    pub errors: usize,
    /// Operations per second over the window's wall time.
    pub ops_per_s: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
}

/// Collects per-operation latencies of one window.
#[derive(Debug, Default)]
pub struct Recorder {
    lat: Vec<Duration>,
    errors: usize,
}

impl Recorder {
    /// Adds one operation's latency and outcome.
    pub fn push(&mut self, took: Duration, ok: bool) {
        self.lat.push(took);
        if !ok {
            self.errors += 1;
        }
    }

    /// Reduces the window; `wall` is its elapsed time.
    pub fn finish(mut self, op: &str, size: usize, wall: Duration) -> Window {
        self.lat.sort_unstable();
        let count = self.lat.len();
        let secs = wall.as_secs_f64();
        Window {
            op: op.to_owned(),
            size,
            count,
            errors: self.errors,
            ops_per_s: if secs > 0.0 { count as f64 / secs } else { 0.0 },
            p50_ms: percentile(&self.lat, 0.50),
            p99_ms: percentile(&self.lat, 0.99),
        }
    }
}

/// Nearest-rank percentile of sorted samples, in milliseconds (0 when empty).
pub fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted
        .get(rank - 1)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(0.0)
}

/// Median of a list of milliseconds (0 when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v.get(n / 2).copied().unwrap_or(0.0),
        n => {
            (v.get(n / 2 - 1).copied().unwrap_or(0.0) + v.get(n / 2).copied().unwrap_or(0.0)) / 2.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&v[..1], 0.99), 1.0);
    }

    #[test]
    fn window_rate_and_errors() {
        let mut r = Recorder::default();
        for i in 0..10 {
            r.push(Duration::from_millis(10), i != 3);
        }
        let w = r.finish("add", 100, Duration::from_millis(100));
        assert_eq!((w.count, w.errors), (10, 1));
        assert!((w.ops_per_s - 100.0).abs() < 1e-9);
        assert_eq!(w.p50_ms, 10.0);
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
