//! The reports: a Markdown table (printed and written), the JSON of every figure and
//! an SVG plot of add throughput against the number of mappings.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

use crate::run::{DaemonResult, ProtoRun, Results};
use crate::stats::Window;

/// Writes `results.json`, `results.md` and `throughput.svg` under `out` and prints
/// the table.
pub fn write(results: &Results, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let json = serde_json::to_string_pretty(results)?;
    std::fs::write(out.join("results.json"), json + "\n")?;
    let md = markdown(results);
    std::fs::write(out.join("results.md"), &md)?;
    std::fs::write(out.join("throughput.svg"), svg(results))?;
    println!("{md}");
    println!(
        "wrote {}/results.json, results.md, throughput.svg",
        out.display()
    );
    Ok(())
}

fn proto_label(p: &str) -> &str {
    match p {
        "natpmp" => "NAT-PMP",
        "pcp" => "PCP",
        "soap" => "SOAP (1 conn/request)",
        "soap-keepalive" => "SOAP (keep-alive)",
        other => other,
    }
}

fn op_label(op: &str) -> &str {
    match op {
        "add" => "new mappings/s",
        "refresh" => "refreshes/s",
        "delete" => "deletes/s",
        "get_generic" => "GetGenericPortMappingEntry/s",
        "get_list" => "GetListOfPortMappings (1000 entries)/s",
        other => other,
    }
}

fn find<'a>(d: &'a DaemonResult, proto: &str) -> Option<&'a ProtoRun> {
    d.runs.iter().find(|r| r.protocol == proto)
}

fn window<'a>(r: &'a ProtoRun, op: &str, size: usize) -> Option<&'a Window> {
    r.windows.iter().find(|w| w.op == op && w.size == size)
}

fn cell(w: Option<&Window>, run: Option<&ProtoRun>, size: usize, budget: u64) -> String {
    match (w, run) {
        (Some(w), _) if w.count > 0 && w.errors >= w.count => {
            format!("all {} failed", w.count)
        }
        (Some(w), _) => {
            let err = if w.errors > 0 {
                format!(", {} errors", w.errors)
            } else {
                String::new()
            };
            format!(
                "{:.0} ({:.2} / {:.2} ms{err})",
                w.ops_per_s, w.p50_ms, w.p99_ms
            )
        }
        (None, Some(r)) if r.reached < size => {
            if r.budget_hit {
                format!("did not reach {size} in {budget} s ({} reached)", r.reached)
            } else {
                format!("not reached ({} reached)", r.reached)
            }
        }
        (None, Some(_)) => "n/a".into(),
        (None, None) => "not run".into(),
    }
}

fn ratio(a: Option<&Window>, b: Option<&Window>) -> String {
    match (a, b) {
        (Some(r), Some(p)) if r.ops_per_s > 0.0 && r.errors == 0 && p.errors == 0 => {
            format!("{:.1}x", p.ops_per_s / r.ops_per_s)
        }
        _ => "-".into(),
    }
}

fn kib(v: Option<u64>) -> String {
    v.map(|k| format!("{:.1} MB", k as f64 / 1024.0))
        .unwrap_or_else(|| "-".into())
}

/// The Markdown report.
pub fn markdown(res: &Results) -> String {
    let mut s = String::new();
    let refd = res.daemons.iter().find(|d| d.name == "miniupnpd");
    let pg = res.daemons.iter().find(|d| d.name == "portgated");
    let _ = writeln!(
        s,
        "Sizes {:?}, add budget {} s per protocol{}, run took {:.0} s. Cells: ops/s (p50 / p99 latency) of the median of {} windows of up to 100 operations.\n",
        res.sizes,
        res.budget_seconds,
        if res.quick { " (--quick)" } else { "" },
        res.seconds,
        res.repeats
    );
    let _ = writeln!(
        s,
        "| figure | miniupnpd | portgated | portgated / miniupnpd |"
    );
    let _ = writeln!(s, "|---|---|---|---|");
    let protos = ["natpmp", "pcp", "soap", "soap-keepalive"];
    for proto in protos {
        let rr = refd.and_then(|d| find(d, proto));
        let pr = pg.and_then(|d| find(d, proto));
        if rr.is_none() && pr.is_none() {
            continue;
        }
        for op in ["add", "refresh", "delete", "get_generic", "get_list"] {
            for &size in &res.sizes {
                let rw = rr.and_then(|r| window(r, op, size));
                let pw = pr.and_then(|r| window(r, op, size));
                if rw.is_none() && pw.is_none() && op.starts_with("get") {
                    continue;
                }
                let _ = writeln!(
                    s,
                    "| {} {} at {} | {} | {} | {} |",
                    proto_label(proto),
                    op_label(op),
                    size,
                    if refd.is_some() {
                        cell(rw, rr, size, res.budget_seconds)
                    } else {
                        "not run".into()
                    },
                    cell(pw, pr, size, res.budget_seconds),
                    ratio(rw, pw)
                );
            }
            // The rate measured when the budget stopped the adds.
            if op == "add" {
                for (name, run) in [("miniupnpd", rr), ("portgated", pr)] {
                    if let Some(r) = run.filter(|r| r.budget_hit || r.aborted.is_some()) {
                        if let Some(w) = window(r, "add_partial", r.reached) {
                            let _ = writeln!(
                                s,
                                "| {} new mappings/s, last {} before stopping at {} ({name}) | {} | {} | - |",
                                proto_label(proto),
                                w.count,
                                r.reached,
                                if name == "miniupnpd" { cell(Some(w), None, 0, 0) } else { "-".into() },
                                if name == "portgated" { cell(Some(w), None, 0, 0) } else { "-".into() },
                            );
                        }
                    }
                }
            }
        }
    }
    // Per-op cost at the largest size vs the smallest (flatness bar).
    if let (Some(pgd), Some(&lo), Some(&hi)) = (pg, res.sizes.first(), res.sizes.last()) {
        for proto in protos {
            if let Some(r) = find(pgd, proto) {
                for op in ["add", "delete"] {
                    if let (Some(a), Some(b)) = (window(r, op, lo), window(r, op, hi)) {
                        if b.ops_per_s > 0.0 && lo != hi {
                            let _ = writeln!(
                                s,
                                "| portgated {} {op} cost at {hi} / at {lo} | - | {:.2} | - |",
                                proto_label(proto),
                                a.ops_per_s / b.ops_per_s
                            );
                        }
                    }
                }
            }
        }
    }
    let rss_loaded = |d: Option<&DaemonResult>| {
        d.and_then(|d| find(d, "natpmp"))
            .map(|r| format!("{} ({} mappings)", kib(r.rss_loaded_kib), r.reached))
            .unwrap_or_else(|| "-".into())
    };
    let _ = writeln!(
        s,
        "| resident memory, idle | {} | {} | {} |",
        kib(refd.and_then(|d| d.rss_idle_kib)),
        kib(pg.and_then(|d| d.rss_idle_kib)),
        match (
            refd.and_then(|d| d.rss_idle_kib),
            pg.and_then(|d| d.rss_idle_kib)
        ) {
            (Some(a), Some(b)) if a > 0 => format!("{:.2}x", b as f64 / a as f64),
            _ => "-".into(),
        }
    );
    let _ = writeln!(
        s,
        "| resident memory after the NAT-PMP adds | {} | {} | - |",
        rss_loaded(refd),
        rss_loaded(pg)
    );
    for proto in protos {
        let m = |d: Option<&DaemonResult>| {
            d.and_then(|d| find(d, proto))
                .and_then(|r| {
                    r.nft_mentions
                        .map(|n| format!("{n} ({} mappings)", r.reached))
                })
                .unwrap_or_else(|| "-".into())
        };
        let (a, b) = (m(refd), m(pg));
        if a != "-" || b != "-" {
            let _ = writeln!(
                s,
                "| LAN host mentions in `nft list ruleset` after the {} adds | {a} | {b} | - |",
                proto_label(proto)
            );
        }
    }
    let load = |d: Option<&DaemonResult>, f: &dyn Fn(&crate::load::LoadResult) -> String| {
        d.and_then(|d| d.load.as_ref())
            .map(f)
            .unwrap_or_else(|| "-".into())
    };
    let soap_load = |l: &crate::load::LoadResult| {
        format!(
            "{:.0} ok/s, {} errors ({} round(s))",
            l.soap_ok_per_s,
            l.soap_errors,
            l.rounds.len()
        )
    };
    let pmp_load = |l: &crate::load::LoadResult| {
        format!(
            "{:.2} / {:.2} ms ({} requests, {} errors)",
            l.natpmp_p50_ms, l.natpmp_p99_ms, l.natpmp_count, l.natpmp_errors
        )
    };
    let _ = writeln!(
        s,
        "| {} concurrent SOAP clients (GetGenericPortMappingEntry, 1 conn/request; median over the rounds) | {} | {} | - |",
        crate::load::SOAP_CLIENTS,
        load(refd, &soap_load),
        load(pg, &soap_load)
    );
    let _ = writeln!(
        s,
        "| NAT-PMP latency p50 / p99 during that load (medians over the rounds) | {} | {} | - |",
        load(refd, &pmp_load),
        load(pg, &pmp_load)
    );
    for d in [refd, pg].into_iter().flatten() {
        for r in d.runs.iter().filter(|r| !r.daemon_alive) {
            let _ = writeln!(
                s,
                "| {} died during the {} phase (table at {}) | {} | {} | - |",
                d.name,
                proto_label(&r.protocol),
                r.reached,
                if d.name == "miniupnpd" { "yes" } else { "-" },
                if d.name == "portgated" { "yes" } else { "-" },
            );
        }
    }
    let size = |d: Option<&DaemonResult>| {
        d.map(|d| format!("{:.0} KB", d.binary_bytes as f64 / 1024.0))
            .unwrap_or_else(|| "-".into())
    };
    let _ = writeln!(
        s,
        "| daemon binary (stripped) | {} (+ libnftnl, libmnl) | {} | - |",
        size(refd),
        size(pg)
    );
    for b in &res.binaries {
        let _ = writeln!(s, "| {} (stripped) | - | {} B | - |", b.name, b.bytes);
    }
    for d in [refd, pg].into_iter().flatten() {
        for c in &d.clients {
            let fails = if c.failures > 0 {
                format!(", {} failed", c.failures)
            } else {
                String::new()
            };
            let v = format!(
                "{:.1} ms (median of {}{fails})",
                c.median_ms,
                c.runs_ms.len()
            );
            let (a, b) = if d.name == "miniupnpd" {
                (v, "-".to_owned())
            } else {
                ("-".to_owned(), v)
            };
            let _ = writeln!(
                s,
                "| client `{}` against {} | {a} | {b} | - |",
                c.command, d.name
            );
        }
    }
    s
}

/// One plotted line: label, points (mappings, adds/s), dashed (the reference).
type Series = (String, Vec<(f64, f64)>, bool);

/// The plot: add throughput (log scale) against the number of mappings (log
/// scale), one line per daemon and protocol.
pub fn svg(res: &Results) -> String {
    let (w, h) = (860.0f64, 460.0f64);
    let (left, right, top, bottom) = (70.0, 330.0, 30.0, 50.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let mut series: Vec<Series> = Vec::new();
    for d in &res.daemons {
        for r in &d.runs {
            let mut pts: Vec<(f64, f64)> = r
                .windows
                .iter()
                // A window whose requests failed has no rate to plot (failures come
                // back fast and would draw as a spike).
                .filter(|x| {
                    (x.op == "add" || x.op == "add_partial")
                        && x.ops_per_s > 0.0
                        && x.errors < x.count
                })
                .map(|x| (x.size as f64, x.ops_per_s))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            if !pts.is_empty() {
                series.push((
                    format!("{} {}", d.name, proto_label(&r.protocol)),
                    pts,
                    d.name == "miniupnpd",
                ));
            }
        }
    }
    let all = series.iter().flat_map(|s| s.1.iter());
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        xmin = xmin.min(x);
        xmax = xmax.max(x);
        ymin = ymin.min(y);
        ymax = ymax.max(y);
    }
    if xmin > xmax {
        (xmin, xmax, ymin, ymax) = (10.0, 10_000.0, 1.0, 10_000.0);
    }
    let (lx0, lx1) = (
        xmin.log10().floor(),
        xmax.log10().ceil().max(xmin.log10().floor() + 1.0),
    );
    let (ly0, ly1) = (
        ymin.log10().floor(),
        ymax.log10().ceil().max(ymin.log10().floor() + 1.0),
    );
    let sx = |x: f64| left + (x.log10() - lx0) / (lx1 - lx0) * pw;
    let sy = |y: f64| top + ph - (y.log10() - ly0) / (ly1 - ly0) * ph;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">New mappings per second vs mappings in the table (log-log)</text>",
        left + pw / 2.0
    );
    for e in (lx0 as i32)..=(lx1 as i32) {
        let x = sx(10f64.powi(e));
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            top + ph,
            top + ph + 16.0,
            10u64.pow(e.max(0) as u32)
        );
    }
    for e in (ly0 as i32)..=(ly1 as i32) {
        let y = sy(10f64.powi(e));
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + pw,
            left - 6.0,
            y + 4.0,
            10u64.pow(e.max(0) as u32)
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">mappings in the table</text>",
        left + pw / 2.0,
        h - 10.0
    );
    let _ = writeln!(
        s,
        "<text x=\"16\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.1})\">adds per second</text>",
        top + ph / 2.0,
        top + ph / 2.0
    );
    let colors = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf",
    ];
    for (i, (name, pts, dashed)) in series.iter().enumerate() {
        let color = colors.get(i % colors.len()).copied().unwrap_or("#000");
        let path: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let dash = if *dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
            path.join(" ")
        );
        for &(x, y) in pts {
            let _ = writeln!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                sx(x),
                sy(y)
            );
        }
        let ly = top + 10.0 + i as f64 * 18.0;
        let lx = left + pw + 15.0;
        let _ = writeln!(
            s,
            "<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/><text x=\"{}\" y=\"{}\">{}</text>",
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            xml_escape(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{DaemonResult, ProtoRun, Results};

    fn win(op: &str, size: usize, rate: f64) -> Window {
        Window {
            op: op.into(),
            size,
            count: 100,
            errors: 0,
            ops_per_s: rate,
            p50_ms: 1.0,
            p99_ms: 2.0,
            max_ms: 0.0,
            repeats: 1,
        }
    }

    fn sample() -> Results {
        let run = |reached, hit, windows| ProtoRun {
            protocol: "natpmp".into(),
            target: 1000,
            reached,
            budget_hit: hit,
            add_seconds: 1.0,
            aborted: None,
            windows,
            rss_loaded_kib: Some(2048),
            nft_mentions: None,
            daemon_alive: true,
        };
        Results {
            sizes: vec![100, 1000],
            budget_seconds: 15,
            repeats: 1,
            quick: true,
            started_unix: 0,
            seconds: 1.0,
            daemons: vec![
                DaemonResult {
                    name: "miniupnpd".into(),
                    binary: "m".into(),
                    binary_bytes: 1024,
                    rss_idle_kib: Some(2048),
                    runs: vec![run(
                        500,
                        true,
                        vec![win("add", 100, 150.0), win("add_partial", 500, 60.0)],
                    )],
                    clients: vec![],
                    load: None,
                },
                DaemonResult {
                    name: "portgated".into(),
                    binary: "p".into(),
                    binary_bytes: 4096,
                    rss_idle_kib: Some(3072),
                    runs: vec![run(
                        1000,
                        false,
                        vec![win("add", 100, 3000.0), win("add", 1000, 3000.0)],
                    )],
                    clients: vec![],
                    load: None,
                },
            ],
            binaries: vec![],
        }
    }

    #[test]
    fn sizes_of_other_binaries_are_rows() {
        let mut res = sample();
        res.binaries.push(crate::run::BinarySize {
            name: "portgate-multicall (router)".into(),
            path: "target/router/portgate-multicall".into(),
            bytes: 1_700_000,
        });
        let md = markdown(&res);
        assert!(
            md.contains("| portgate-multicall (router) (stripped) | - | 1700000 B | - |"),
            "{md}"
        );
    }

    #[test]
    fn table_has_ratios_and_budget_notes() {
        let md = markdown(&sample());
        assert!(md.contains("| NAT-PMP new mappings/s at 100 | 150 (1.00 / 2.00 ms) | 3000 (1.00 / 2.00 ms) | 20.0x |"), "{md}");
        assert!(
            md.contains("did not reach 1000 in 15 s (500 reached)"),
            "{md}"
        );
        assert!(
            md.contains("last 100 before stopping at 500 (miniupnpd) | 60 ("),
            "{md}"
        );
        assert!(
            md.contains("| resident memory, idle | 2.0 MB | 3.0 MB | 1.50x |"),
            "{md}"
        );
    }

    #[test]
    fn failed_windows_get_no_rate_or_ratio() {
        let mut res = sample();
        let mut dead = win("delete", 100, 50_000.0);
        dead.errors = dead.count;
        res.daemons[0].runs[0].windows.push(dead);
        res.daemons[1].runs[0]
            .windows
            .push(win("delete", 100, 9000.0));
        let md = markdown(&res);
        assert!(
            md.contains(
                "| NAT-PMP deletes/s at 100 | all 100 failed | 9000 (1.00 / 2.00 ms) | - |"
            ),
            "{md}"
        );
    }

    #[test]
    fn plot_has_one_line_per_series() {
        let svg = svg(&sample());
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("miniupnpd NAT-PMP"));
        assert!(svg.ends_with("</svg>\n"));
    }

    #[test]
    fn failed_windows_are_not_plotted() {
        let mut res = sample();
        for d in &mut res.daemons {
            for r in &mut d.runs {
                for w in &mut r.windows {
                    w.errors = w.count;
                }
            }
        }
        assert_eq!(svg(&res).matches("<polyline").count(), 0);
    }
}
