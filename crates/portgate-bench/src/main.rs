//! `portgate-bench`: builds a namespace lab and measures, in one run, Debian's
//! miniupnpd-nftables (the reference) and then portgated in the same lab: mapping
//! add/refresh/delete rates over NAT-PMP, PCP and SOAP as the table grows, the
//! read actions (GetGenericPortMappingEntry, GetListOfPortMappings), latency
//! percentiles, resident memory, binary sizes and client wall times. Prints a table
//! and writes `results.json`, `results.md` and `throughput.svg` (docs/benchmarks.md).
//!
//! Needs root. Run through `scripts/bench.sh`.

mod cgn;
mod client;
mod daemon;
mod leases;
mod load;
mod report;
mod run;
mod scale;
mod stats;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "portgated vs miniupnpd-nftables, side by side in a namespace lab")]
pub struct Args {
    /// The portgated binary to measure (release build).
    #[arg(long)]
    pub portgated: PathBuf,
    /// The portgate client binary (for the client timings; skipped if absent).
    #[arg(long)]
    pub portgate: Option<PathBuf>,
    /// The reference daemon.
    #[arg(long, default_value = "/usr/sbin/miniupnpd")]
    pub miniupnpd: PathBuf,
    /// Where results.json, results.md and throughput.svg go.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// Sizes 100 and 1000 only and short time budgets (a few minutes in all).
    #[arg(long)]
    pub quick: bool,
    /// Table sizes at which rates are measured (default 100,1000,10000).
    #[arg(long, value_delimiter = ',')]
    pub sizes: Option<Vec<usize>>,
    /// Seconds the table-growing adds of one protocol may take before that phase
    /// stops (default 60, 15 with --quick).
    #[arg(long)]
    pub budget: Option<u64>,
    /// Skip the reference daemon.
    #[arg(long)]
    pub no_reference: bool,
    /// Rounds of the 100-client load; the table shows the median round (default 5,
    /// 1 with --quick).
    #[arg(long)]
    pub load_rounds: Option<usize>,
    /// Windows of each kind taken at each size; the table shows the median window
    /// (default 5, 3 with --quick).
    #[arg(long)]
    pub repeats: Option<usize>,
    /// Only the 100-client load: no table growth, no client timings.
    #[arg(long)]
    pub load_only: bool,
    /// Only the scale runs (docs/scale.md): the nftables floor, NAT-PMP/PCP from
    /// 10 752 client addresses at once, one external address filled (129 024
    /// mappings). Writes scale.json and scale.md. Then the CGN run (see `--cgn`).
    #[arg(long)]
    pub scale: bool,
    /// Only the CGN run (docs/scale.md): 1 000 000 PCP mappings from 100 000
    /// subscriber addresses over 16 external addresses, 1 000 of them probed from the
    /// WAN host. Writes cgn.json and cgn.md.
    #[arg(long)]
    pub cgn: bool,
    /// Only the lease-file phases of the CGN run (start, compaction, restart, mass
    /// expiry) with this many leases (at most 1 000 000). Writes leases.json and
    /// leases.md.
    #[arg(long, value_name = "N")]
    pub cgn_leases: Option<usize>,
    /// Also report the size of another binary, as NAME=PATH (repeatable; scripts/bench.sh
    /// passes the router builds, docs/size.md).
    #[arg(long = "size-of", value_name = "NAME=PATH", value_parser = parse_size_of)]
    pub size_of: Vec<(String, PathBuf)>,
}

fn parse_size_of(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_owned(), PathBuf::from(path)))
        }
        _ => Err(format!("expected NAME=PATH, got {s:?}")),
    }
}

impl Args {
    /// The table sizes to measure at.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = self.sizes.clone().unwrap_or_else(|| {
            if self.quick {
                vec![100, 1000]
            } else {
                vec![100, 1000, 10_000]
            }
        });
        s.retain(|&n| n > 0);
        s.sort_unstable();
        s.dedup();
        s
    }

    /// Windows of each kind per size (at least one).
    pub fn repeats(&self) -> usize {
        self.repeats
            .unwrap_or(if self.quick { 3 } else { 5 })
            .max(1)
    }

    /// Rounds of the load phase (at least one).
    pub fn load_rounds(&self) -> usize {
        self.load_rounds
            .unwrap_or(if self.quick { 1 } else { 5 })
            .max(1)
    }

    /// The per-phase time budget.
    pub fn budget(&self) -> Duration {
        Duration::from_secs(self.budget.unwrap_or(if self.quick { 15 } else { 60 }))
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let outcome = if let Some(n) = args.cgn_leases {
        cgn::run_leases(&args, n)
    } else if args.cgn {
        cgn::run(&args).map(drop)
    } else if args.scale {
        scale::run(&args).and_then(|()| cgn::run(&args).map(drop))
    } else {
        run::run(&args)
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portgate-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
