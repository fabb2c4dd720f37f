//! Concurrency: [`SOAP_CLIENTS`] SOAP clients spread over the LAN hosts hammer
//! GetGenericPortMappingEntry (one connection per request) while LAN host 0 measures
//! NAT-PMP latency (the bar in the README's benchmark table: NAT-PMP answered within 5 ms at p99
//! while 100 HTTP clients hammer SOAP).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portgate_lab::{Host, Lab};
use serde::Serialize;

use crate::client::{NatPmp, Soap, LEASE};
use crate::daemon::HTTP_PORT;
use crate::run::BASE_PORT;
use crate::stats::{median, Recorder, Window};

/// Concurrent SOAP clients.
pub const SOAP_CLIENTS: usize = 100;

/// LAN hosts the clients are spread over (portgated accepts at most 8 HTTP
/// connections per client address; 13 hosts x 8 >= 100).
pub const LOAD_HOSTS: usize = 13;

/// Mappings in the table during the load.
pub const LOAD_TABLE: usize = 100;

/// Pause between two NAT-PMP probes.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(5);

/// What the load phase measured: every round, and the medians over the rounds (the
/// machines are shared and noisy; one round's p99 swings with whatever else runs).
#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    /// Concurrent SOAP clients.
    pub soap_clients: usize,
    /// The rounds, in the order they ran.
    pub rounds: Vec<LoadRound>,
    /// Median over the rounds of the SOAP requests answered per second.
    pub soap_ok_per_s: f64,
    /// SOAP requests that failed, all rounds together.
    pub soap_errors: usize,
    /// Median over the rounds of the NAT-PMP median latency, milliseconds.
    pub natpmp_p50_ms: f64,
    /// Median over the rounds of the NAT-PMP 99th percentile, milliseconds.
    pub natpmp_p99_ms: f64,
    /// NAT-PMP requests, all rounds together.
    pub natpmp_count: usize,
    /// NAT-PMP requests without an answer, all rounds together.
    pub natpmp_errors: usize,
}

impl LoadResult {
    /// Reduces the rounds to their medians and totals.
    pub fn from_rounds(rounds: Vec<LoadRound>) -> Self {
        let med = |f: &dyn Fn(&LoadRound) -> f64| median(&rounds.iter().map(f).collect::<Vec<_>>());
        LoadResult {
            soap_clients: SOAP_CLIENTS,
            soap_ok_per_s: med(&|r| r.soap_ok_per_s),
            soap_errors: rounds.iter().map(|r| r.soap_errors).sum(),
            natpmp_p50_ms: med(&|r| r.natpmp.p50_ms),
            natpmp_p99_ms: med(&|r| r.natpmp.p99_ms),
            natpmp_count: rounds.iter().map(|r| r.natpmp.count).sum(),
            natpmp_errors: rounds.iter().map(|r| r.natpmp.errors).sum(),
            rounds,
        }
    }
}

/// One round of the load.
#[derive(Debug, Clone, Serialize)]
pub struct LoadRound {
    /// Seconds the round lasted.
    pub seconds: f64,
    /// SOAP requests answered successfully per second, all clients together.
    pub soap_ok_per_s: f64,
    /// SOAP requests that failed (refused, reset, fault, timeout).
    pub soap_errors: usize,
    /// NAT-PMP external-address requests during the round.
    pub natpmp: Window,
}

/// Runs one round of the load for `duration` against the daemon already running in
/// the gateway.
pub fn run(lab: &Lab, duration: Duration) -> anyhow::Result<LoadRound> {
    let gw = lab.gateway().lan.ipv4;
    let hosts = lab.lan_hosts().len().max(1);
    // A table to read from.
    lab.in_netns(Host::Lan(0), || -> anyhow::Result<()> {
        let c = NatPmp::new(gw)?;
        for i in 0..LOAD_TABLE {
            let port = BASE_PORT + u16::try_from(i).unwrap_or(0);
            let _ = c.map(port, LEASE);
        }
        Ok(())
    })??;
    let stop = AtomicBool::new(false);
    let ok = AtomicUsize::new(0);
    let errors = AtomicUsize::new(0);
    let start = Instant::now();
    let natpmp = std::thread::scope(|s| {
        for i in 0..SOAP_CLIENTS {
            let (stop, ok, errors) = (&stop, &ok, &errors);
            let host = Host::Lan(i % hosts);
            let me = lab.ipv4(host);
            s.spawn(move || {
                let _ = lab.in_netns(host, || {
                    let mut c = Soap::new(gw, HTTP_PORT, me, false);
                    let mut k = i;
                    while !stop.load(Ordering::Relaxed) {
                        k = (k + 7) % LOAD_TABLE;
                        match c.generic(k) {
                            Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                            Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                });
            });
        }
        let probe = lab.in_netns(Host::Lan(0), || -> anyhow::Result<Window> {
            let c = NatPmp::new(gw)?;
            let mut rec = Recorder::default();
            let t = Instant::now();
            while t.elapsed() < duration {
                let t1 = Instant::now();
                let res = c.external_address();
                rec.push(t1.elapsed(), res.is_ok());
                std::thread::sleep(PROBE_INTERVAL);
            }
            Ok(rec.finish("natpmp_under_load", LOAD_TABLE, t.elapsed()))
        });
        stop.store(true, Ordering::Relaxed);
        probe
    })??;
    let secs = start.elapsed().as_secs_f64();
    Ok(LoadRound {
        seconds: secs,
        soap_ok_per_s: ok.load(Ordering::Relaxed) as f64 / secs,
        soap_errors: errors.load(Ordering::Relaxed),
        natpmp,
    })
}
