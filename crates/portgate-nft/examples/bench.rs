//! Measures single-element transactions: adds 10 000 mappings one netlink transaction
//! each into a fresh network namespace, printing the rate at the start (0..100) and at
//! the end (9 900..10 000), then the same for deletes; then batched transactions
//! (BATCH elements each, what one round of portgated's NAT-PMP/PCP socket sends at
//! most): the same 10 000 added, refreshed and deleted. Needs root; not a timed
//! assertion.
//!
//! Run: `cargo run -p portgate-nft --example bench --release`

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use portgate_nft::{Change, Firewall, L4Proto, Mapping, MappingKey, NftConfig, NftFirewall};

const N: u16 = 10_000;
const WINDOW: u16 = 100;
const BATCH: usize = 256;

struct Ns(String);
impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn mapping(i: u16) -> Mapping {
    Mapping {
        key: MappingKey {
            proto: L4Proto::TCP,
            external_port: 10_000 + i,
            remote: None,
            external: None,
        },
        internal_addr: Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8),
        internal_port: 10_000 + i,
        timeout: Some(Duration::from_secs(3600)),
    }
}

fn rate(n: u16, d: Duration) -> f64 {
    f64::from(n) / d.as_secs_f64()
}

fn main() -> anyhow::Result<()> {
    let ns = Ns(format!("pgnft-bench-{}", std::process::id()));
    anyhow::ensure!(Command::new("ip")
        .args(["netns", "add", &ns.0])
        .status()?
        .success());
    let mut fw = NftFirewall::open_in_netns(&ns.0, NftConfig::new("wan0"))?;
    fw.init()?;

    let mut first = Duration::ZERO;
    let mut last = Duration::ZERO;
    let all = Instant::now();
    for i in 0..N {
        let t = Instant::now();
        fw.put(&mapping(i))?;
        let d = t.elapsed();
        if i < WINDOW {
            first += d;
        } else if i >= N - WINDOW {
            last += d;
        }
    }
    let total = all.elapsed();
    println!(
        "adds: {:.0}/s at 0..{WINDOW}, {:.0}/s at {}..{N}, {:.0}/s overall",
        rate(WINDOW, first),
        rate(WINDOW, last),
        N - WINDOW,
        rate(N, total)
    );
    anyhow::ensure!(
        fw.list()?.len() == usize::from(N),
        "not all elements present"
    );

    let mut first = Duration::ZERO;
    let mut last = Duration::ZERO;
    let all = Instant::now();
    for i in 0..N {
        let t = Instant::now();
        fw.remove(&mapping(i).key)?;
        let d = t.elapsed();
        if i < WINDOW {
            first += d;
        } else if i >= N - WINDOW {
            last += d;
        }
    }
    let total = all.elapsed();
    println!(
        "deletes: {:.0}/s with {N}..{} held, {:.0}/s with {WINDOW}..0 held, {:.0}/s overall",
        rate(WINDOW, first),
        N - WINDOW,
        rate(WINDOW, last),
        rate(N, total)
    );
    anyhow::ensure!(fw.list()?.is_empty(), "elements left");

    let puts: Vec<Change> = (0..N).map(|i| Change::Put(mapping(i))).collect();
    let removes: Vec<Change> = (0..N).map(|i| Change::Remove(mapping(i).key)).collect();
    let mut batched = |what: &str, changes: &[Change]| -> anyhow::Result<()> {
        let t = Instant::now();
        for chunk in changes.chunks(BATCH) {
            fw.apply(chunk)?;
        }
        println!(
            "batched ({BATCH} per transaction): {:.0} {what}/s",
            rate(N, t.elapsed())
        );
        Ok(())
    };
    batched("adds", &puts)?;
    batched("refreshes", &puts)?;
    batched("deletes", &removes)?;
    anyhow::ensure!(fw.list()?.is_empty(), "elements left");
    fw.shutdown(false)?;
    Ok(())
}
