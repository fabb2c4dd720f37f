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
    /// Longest latency, milliseconds (with one request at a time, a stall shows
    /// here and hardly in the percentiles).
    pub max_ms: f64,
    /// Windows of this kind taken at this size; rate and percentiles are those of the
    /// median window (by rate), count and errors are summed over all of them.
    pub repeats: usize,
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
            max_ms: self.lat.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            repeats: 1,
        }
    }
}

/// The window with the median rate of `windows` (the lower middle one of an even
/// count), carrying the summed count and errors: one scheduling hiccup on a shared
/// machine can halve the rate of a 3 ms window, and the median of several is what a
/// table should show. `None` when `windows` is empty.
pub fn median_window(mut windows: Vec<Window>) -> Option<Window> {
    windows.sort_by(|a, b| a.ops_per_s.total_cmp(&b.ops_per_s));
    let count = windows.iter().map(|w| w.count).sum();
    let errors = windows.iter().map(|w| w.errors).sum();
    let repeats = windows.len();
    let mid = repeats.checked_sub(1)? / 2;
    let mut m = windows.swap_remove(mid);
    m.count = count;
    m.errors = errors;
    m.repeats = repeats;
    Some(m)
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
    fn median_window_picks_the_middle_rate_and_sums_counts() {
        let w = |rate: f64, errors: usize| Window {
            op: "add".into(),
            size: 100,
            count: 100,
            errors,
            ops_per_s: rate,
            p50_ms: 1000.0 / rate,
            p99_ms: 2000.0 / rate,
            max_ms: 0.0,
            repeats: 1,
        };
        let m = median_window(vec![w(300.0, 0), w(100.0, 2), w(200.0, 1)]).unwrap();
        assert_eq!(m.ops_per_s, 200.0);
        assert_eq!(m.p50_ms, 5.0);
        assert_eq!((m.count, m.errors, m.repeats), (300, 3, 3));
        let even = median_window(vec![w(400.0, 0), w(100.0, 0)]).unwrap();
        assert_eq!(even.ops_per_s, 100.0);
        assert!(median_window(Vec::new()).is_none());
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
