//! The Markdown table: median tps (and average latency) per workload and
//! target over the rounds, ratios to PgBouncer, replica share of the
//! account SELECTs for the splitters.

use crate::pgbench::{Outcome, ProxyCpu, Workload};

fn title(target: &str) -> &str {
    match target {
        "direct" => "direct primary",
        "pgbouncer" => "PgBouncer",
        "pgpool" => "pgpool-II",
        other => other,
    }
}

/// `12,345` for a tps figure.
fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn one_line(o: &Outcome) -> String {
    match &o.error {
        Some(e) => format!("FAILED: {e}"),
        None => format!(
            "{:>9} tps {:>8.3} ms   account SELECTs primary {:>7} replica {:>7}{}",
            thousands(o.tps),
            o.latency_ms,
            o.on_primary,
            o.on_replica,
            o.proxy_cpu
                .map(|c| format!(
                    "   proxy CPU {:.1} µs/tx (user {:.1})",
                    c.total_us, c.user_us
                ))
                .unwrap_or_default()
        ),
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(match n % 2 {
        1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    })
}

struct Cell {
    tps: Option<f64>,
    latency: Option<f64>,
    replica_share: Option<f64>,
    cpu: Option<ProxyCpu>,
    failures: usize,
}

fn cell(results: &[(usize, &str, Outcome)], wi: usize, target: &str) -> Cell {
    let runs: Vec<&Outcome> = results
        .iter()
        .filter(|(w, t, _)| *w == wi && *t == target)
        .map(|(_, _, o)| o)
        .collect();
    let ok: Vec<&&Outcome> = runs.iter().filter(|o| o.error.is_none()).collect();
    let (p, r) = ok
        .iter()
        .fold((0, 0), |(p, r), o| (p + o.on_primary, r + o.on_replica));
    Cell {
        tps: median(ok.iter().map(|o| o.tps).collect()),
        latency: median(ok.iter().map(|o| o.latency_ms).collect()),
        replica_share: (p + r > 0).then(|| r as f64 / (p + r) as f64),
        cpu: {
            let cpu: Vec<ProxyCpu> = ok.iter().filter_map(|o| o.proxy_cpu).collect();
            let total = median(cpu.iter().map(|c| c.total_us).collect());
            let user = median(cpu.iter().map(|c| c.user_us).collect());
            total
                .zip(user)
                .map(|(total_us, user_us)| ProxyCpu { total_us, user_us })
        },
        failures: runs.len() - ok.len(),
    }
}

pub fn table(
    workloads: &[Workload],
    targets: &[&str],
    results: &[(usize, &str, Outcome)],
    seconds: u32,
    rounds: usize,
) -> String {
    let has_bouncer = targets.contains(&"pgbouncer");
    let ratio_targets: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| has_bouncer && *t != "pgbouncer")
        .collect();
    let splitters: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| matches!(*t, "pgsplit" | "pgpool"))
        .collect();
    let mut head = vec!["workload".to_owned()];
    head.extend(
        targets
            .iter()
            .map(|t| format!("{} tps (latency)", title(t))),
    );
    head.extend(
        ratio_targets
            .iter()
            .map(|t| format!("{} ÷ PgBouncer", title(t))),
    );
    head.extend(
        splitters
            .iter()
            .map(|t| format!("{} reads on replica", title(t))),
    );
    let proxies: Vec<&str> = targets.iter().copied().filter(|t| *t != "direct").collect();
    head.extend(
        proxies
            .iter()
            .map(|t| format!("{} CPU µs/tx (user)", title(t))),
    );
    let mut out = format!(
        "\npgsplit e2e: median of {rounds} interleaved round(s), pgbench -T {seconds}, \
         {} core(s)\n\n| {} |\n|---|{}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        head.join(" | "),
        "---:|".repeat(head.len() - 1)
    );
    for (wi, w) in workloads.iter().enumerate() {
        let mut row = vec![w.label.to_owned()];
        let cells: Vec<Cell> = targets.iter().map(|t| cell(results, wi, t)).collect();
        for c in &cells {
            row.push(match (c.tps, c.latency) {
                (Some(t), Some(l)) => {
                    let failed = match c.failures {
                        0 => String::new(),
                        n => format!(" ({n} failed)"),
                    };
                    format!("{} ({l:.3} ms){failed}", thousands(t))
                }
                _ => "failed".to_owned(),
            });
        }
        let bouncer = targets
            .iter()
            .position(|t| *t == "pgbouncer")
            .and_then(|i| cells[i].tps);
        for t in &ratio_targets {
            let i = targets.iter().position(|x| x == t).unwrap_or(0);
            row.push(match (cells[i].tps, bouncer) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
                _ => "–".to_owned(),
            });
        }
        for t in &splitters {
            let i = targets.iter().position(|x| x == t).unwrap_or(0);
            row.push(match cells[i].replica_share {
                Some(s) => format!("{:.1}%", s * 100.0),
                None => "–".to_owned(),
            });
        }
        for t in &proxies {
            let i = targets.iter().position(|x| x == t).unwrap_or(0);
            row.push(match cells[i].cpu {
                Some(c) => format!("{:.0} ({:.1})", c.total_us, c.user_us),
                None => "–".to_owned(),
            });
        }
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}
