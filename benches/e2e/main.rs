//! End-to-end comparison: `cargo bench --bench e2e`.
//!
//! Starts a PostgreSQL primary + streaming replica (`pgsplit::cluster`),
//! initializes pgbench at scale 10 on the primary, waits for the replica to
//! replay it, starts pgsplit (the release binary), PgBouncer and pgpool-II
//! (installed with apt-get when missing and running as root), each in a
//! session of its own as a service manager would, then runs the
//! pgbench workloads interleaved — for each round, for each workload, every
//! target back to back — and prints a Markdown table of the median tps and
//! latency, the ratios to PgBouncer, and the share of the account SELECTs
//! each splitter sent to the replica (pg_stat_statements deltas per node).
//!
//! Environment:
//! - `PGSPLIT_E2E_SECONDS` (10): `pgbench -T` of each run
//! - `PGSPLIT_E2E_ROUNDS` (2)
//! - `PGSPLIT_E2E_WORKLOADS` (all): comma list of `s1,s16,s16x,s16p,tpcb8,c8`
//! - `PGSPLIT_E2E_TARGETS` (all): comma list of `direct,pgsplit,pgbouncer,pgpool`
//! - `PGSPLIT_E2E_SCALE` (10), `PGSPLIT_E2E_INSTALL` (1: apt-get install the poolers)
//! - `PGSPLIT_E2E_BIN`: the pgsplit binary (default: the one cargo built)
//! - `PGSPLIT_E2E_POOL_MODE`: `transaction` makes pgsplit and PgBouncer pool
//!   per transaction with 10 server connections per pool
//!
//! Every process started here is stopped by its pid when its guard drops.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pgbench;
mod procs;
mod report;
mod targets;

use std::time::Instant;

use pgsplit::cluster::{find_pg_bin, Cluster, ClusterOptions};

use pgbench::{Outcome, Pgbench, ProxyCpu, Workload, WORKLOADS};
use procs::Daemon;

pub const TARGETS: &[&str] = &["direct", "pgsplit", "pgbouncer", "pgpool"];

struct Options {
    seconds: u32,
    rounds: usize,
    workloads: Vec<Workload>,
    targets: Vec<&'static str>,
    scale: u32,
    install: bool,
}

fn env_num<T: std::str::FromStr>(key: &str, default: T) -> Result<T, String> {
    match std::env::var(key) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{key}={v}: not a number")),
        Err(_) => Ok(default),
    }
}

fn env_list(key: &str) -> Option<Vec<String>> {
    let v = std::env::var(key).ok()?;
    Some(v.split(',').map(|s| s.trim().to_lowercase()).collect())
}

impl Options {
    fn from_env() -> Result<Options, String> {
        let workloads = match env_list("PGSPLIT_E2E_WORKLOADS") {
            // The high-client-count workloads are for transaction mode (and
            // would exceed a direct server's max_connections): only by name.
            None => WORKLOADS
                .iter()
                .filter(|w| !matches!(w.name, "s200" | "tpcb50"))
                .copied()
                .collect(),
            Some(names) => names
                .iter()
                .map(|n| {
                    WORKLOADS
                        .iter()
                        .find(|w| w.name == n)
                        .copied()
                        .ok_or_else(|| format!("unknown workload {n:?}"))
                })
                .collect::<Result<_, _>>()?,
        };
        let targets = match env_list("PGSPLIT_E2E_TARGETS") {
            None => TARGETS.to_vec(),
            Some(names) => names
                .iter()
                .map(|n| {
                    TARGETS
                        .iter()
                        .find(|t| *t == n)
                        .copied()
                        .ok_or_else(|| format!("unknown target {n:?}"))
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Options {
            seconds: env_num("PGSPLIT_E2E_SECONDS", 10)?,
            rounds: env_num("PGSPLIT_E2E_ROUNDS", 2)?,
            workloads,
            targets,
            scale: env_num("PGSPLIT_E2E_SCALE", 10)?,
            install: env_num("PGSPLIT_E2E_INSTALL", 1u8)? != 0,
        })
    }
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --benches` do nothing.
    if !std::env::args().any(|a| a == "--bench") {
        println!("e2e: skipped (run it with `cargo bench --bench e2e`)");
        return;
    }
    if let Err(e) = run() {
        eprintln!("e2e: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let opts = Options::from_env()?;
    let wants = |t: &str| opts.targets.contains(&t);
    if opts.install {
        targets::install_poolers(wants("pgbouncer"), wants("pgpool"));
    }
    let began = Instant::now();
    let bin_dir = find_pg_bin().map_err(|e| e.to_string())?;
    eprintln!("e2e: starting a primary and a streaming replica");
    let cluster = Cluster::start(ClusterOptions {
        extra_conf: vec!["shared_preload_libraries = 'pg_stat_statements'".into()],
        ..ClusterOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let db = cluster.options().database.clone();
    cluster
        .primary()
        .psql_db(&db, "CREATE EXTENSION pg_stat_statements")
        .map_err(|e| e.to_string())?;
    let bench = Pgbench::new(&cluster, &bin_dir);
    eprintln!("e2e: pgbench -i -s {} on the primary", opts.scale);
    bench.init(cluster.primary().port, opts.scale)?;
    pgbench::wait_caught_up(&cluster)?;

    let env = targets::Env {
        cluster: &cluster,
        psql: bin_dir.join("psql"),
        dir: cluster.root().join("e2e"),
        run_as: procs::run_as(),
    };
    std::fs::create_dir_all(&env.dir).map_err(|e| e.to_string())?;
    // Guards: declared after `cluster`, so they drop (stop) before it.
    let mut daemons: Vec<Daemon> = Vec::new();
    let mut ports: Vec<(&'static str, u16)> = Vec::new();
    for &t in &opts.targets {
        let started = match t {
            "direct" => {
                ports.push((t, cluster.primary().port));
                continue;
            }
            "pgsplit" => targets::start_pgsplit(&env),
            "pgbouncer" => targets::start_pgbouncer(&env),
            _ => targets::start_pgpool(&env),
        };
        match started {
            Ok((d, port)) => {
                eprintln!("e2e: {t} on 127.0.0.1:{port} (pid {})", d.pid());
                daemons.push(d);
                ports.push((t, port));
            }
            Err(e) => eprintln!("e2e: {t} left out: {e}"),
        }
    }
    eprintln!("e2e: setup took {:.0?}", began.elapsed());

    let mut results: Vec<(usize, &'static str, Outcome)> = Vec::new();
    for round in 1..=opts.rounds {
        for (wi, w) in opts.workloads.iter().enumerate() {
            for &(t, port) in &ports {
                let mut pid = None;
                if let Some(d) = daemons.iter_mut().find(|d| d.name == t) {
                    d.check_alive()?;
                    pid = Some(d.pid());
                }
                let outcome = measure(&cluster, &bench, &db, port, pid, w, opts.seconds);
                eprintln!(
                    "e2e: round {round} {:<28} {t:<10} {}",
                    w.label,
                    report::one_line(&outcome)
                );
                results.push((wi, t, outcome));
            }
        }
    }
    let present: Vec<&str> = ports.iter().map(|(t, _)| *t).collect();
    println!(
        "{}",
        report::table(
            &opts.workloads,
            &present,
            &results,
            opts.seconds,
            opts.rounds
        )
    );
    drop(daemons);
    Ok(())
}

/// One pgbench run, with the account SELECTs each node executed meanwhile.
fn measure(
    cluster: &Cluster,
    bench: &Pgbench,
    db: &str,
    port: u16,
    proxy_pid: Option<u32>,
    w: &Workload,
    seconds: u32,
) -> Outcome {
    let counts = || -> Result<(u64, u64), String> {
        Ok((
            pgbench::account_selects(cluster.primary(), db)?,
            pgbench::account_selects(&cluster.replicas()[0], db)?,
        ))
    };
    let before = counts();
    let cpu_before = proxy_pid.map(procs::group_cpu_ticks);
    let mut outcome = bench.run(port, w, seconds);
    let cpu_after = proxy_pid.map(procs::group_cpu_ticks);
    if let (Ok(b), Ok(a)) = (before, counts()) {
        outcome.on_primary = a.0.saturating_sub(b.0);
        outcome.on_replica = a.1.saturating_sub(b.1);
    }
    if let (Some(b), Some(a)) = (cpu_before, cpu_after) {
        let transactions = outcome.tps * f64::from(seconds);
        if transactions > 0.0 {
            // Clock ticks are 10 ms (USER_HZ = 100 on Linux).
            let per_tx = |ticks: u64| ticks as f64 * 10_000.0 / transactions;
            let user = a.user.saturating_sub(b.user);
            let system = a.system.saturating_sub(b.system);
            outcome.proxy_cpu = Some(ProxyCpu {
                total_us: per_tx(user + system),
                user_us: per_tx(user),
            });
        }
    }
    outcome
}
