//! Running pgbench and reading its summary; counting, on each node, the
//! `pgbench_accounts` SELECTs that node executed.

use std::path::{Path, PathBuf};
use std::process::Command;

use pgsplit::cluster::{Cluster, Node};

/// One pgbench workload: a short name (for `PGSPLIT_E2E_WORKLOADS`), the
/// label printed in the table and the pgbench options.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub name: &'static str,
    pub label: &'static str,
    pub args: &'static [&'static str],
}

pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "s1",
        label: "`-S -c 1`",
        args: &["-S", "-c", "1"],
    },
    Workload {
        name: "s16",
        label: "`-S -c 16 -j 2`",
        args: &["-S", "-c", "16", "-j", "2"],
    },
    Workload {
        name: "s16x",
        label: "`-S -M extended -c 16 -j 2`",
        args: &["-S", "-M", "extended", "-c", "16", "-j", "2"],
    },
    Workload {
        name: "s16p",
        label: "`-S -M prepared -c 16 -j 2`",
        args: &["-S", "-M", "prepared", "-c", "16", "-j", "2"],
    },
    Workload {
        name: "tpcb8",
        label: "tpcb-like `-c 8 -j 2`",
        args: &["-c", "8", "-j", "2"],
    },
    Workload {
        name: "s200",
        label: "`-S -c 200 -j 2`",
        args: &["-S", "-c", "200", "-j", "2"],
    },
    Workload {
        name: "tpcb50",
        label: "tpcb-like `-c 50 -j 2`",
        args: &["-c", "50", "-j", "2"],
    },
    Workload {
        name: "c8",
        label: "`-C -S -c 8 -j 2`",
        args: &["-C", "-S", "-c", "8", "-j", "2"],
    },
];

/// What one pgbench run reported.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub tps: f64,
    pub latency_ms: f64,
    /// `pgbench_accounts` SELECTs executed on the primary / on the replica.
    pub on_primary: u64,
    pub on_replica: u64,
    /// CPU time the proxy (all its processes) used per transaction.
    pub proxy_cpu: Option<ProxyCpu>,
    pub error: Option<String>,
}

/// A proxy's CPU time per transaction, in µs.
#[derive(Debug, Clone, Copy)]
pub struct ProxyCpu {
    pub total_us: f64,
    /// The user-space part (the rest is the kernel's socket work).
    pub user_us: f64,
}

pub struct Pgbench {
    pub bin: PathBuf,
    pub user: String,
    pub password: String,
    pub database: String,
}

impl Pgbench {
    pub fn new(cluster: &Cluster, bin_dir: &Path) -> Pgbench {
        let o = cluster.options();
        Pgbench {
            bin: bin_dir.join("pgbench"),
            user: o.user.clone(),
            password: o.password.clone(),
            database: o.database.clone(),
        }
    }

    fn command(&self, port: u16) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", &self.user])
            .env("PGPASSWORD", &self.password)
            // No SSLRequest / GSSENCRequest round trips before each startup.
            .env("PGSSLMODE", "disable")
            .env("PGGSSENCMODE", "disable");
        cmd
    }

    /// `pgbench -i -s scale` against `port`.
    pub fn init(&self, port: u16, scale: u32) -> Result<(), String> {
        let out = self
            .command(port)
            .args(["-i", "-q", "-s", &scale.to_string(), &self.database])
            .output()
            .map_err(|e| format!("pgbench -i: {e}"))?;
        match out.status.success() {
            true => Ok(()),
            false => Err(format!(
                "pgbench -i failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    }

    /// Runs `w` for `seconds` against `port`. `-n`: no vacuum before each
    /// run (the tables were vacuumed once, after initialization).
    pub fn run(&self, port: u16, w: &Workload, seconds: u32) -> Outcome {
        let out = self
            .command(port)
            .args(["-n", "-T", &seconds.to_string()])
            .args(w.args)
            .arg(&self.database)
            .output();
        let out = match out {
            Ok(o) => o,
            Err(e) => return failed(format!("pgbench: {e}")),
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tps = number_after(&stdout, "tps = ");
        let latency_ms = number_after(&stdout, "latency average = ");
        let failed_tx = number_after(&stdout, "number of failed transactions: ").unwrap_or(0.0);
        match (out.status.success(), tps, latency_ms) {
            (true, Some(tps), Some(latency_ms)) if failed_tx == 0.0 => Outcome {
                tps,
                latency_ms,
                ..Outcome::default()
            },
            _ => {
                let last: Vec<&str> = stderr.lines().rev().take(3).collect();
                failed(format!(
                    "pgbench {} ({}, {failed_tx} failed tx): {}",
                    w.args.join(" "),
                    out.status,
                    last.join(" | ")
                ))
            }
        }
    }
}

fn failed(error: String) -> Outcome {
    Outcome {
        error: Some(error),
        ..Outcome::default()
    }
}

/// The number that follows `key` on the first line containing it.
fn number_after(text: &str, key: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.contains(key))?;
    let rest = &line[line.find(key)? + key.len()..];
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse().ok()
}

/// The account SELECT as pg_stat_statements normalizes it (same text for
/// the simple, extended and prepared protocols).
const ACCOUNT_SELECT: &str = "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements \
     WHERE query LIKE 'SELECT abalance FROM pgbench_accounts WHERE aid = %'";

/// pg_stat_statements counts a statement as it finishes (not at the
/// cumulative-statistics flush, which an idle pooled backend may delay by
/// 10 s), so the delta over one run is exact.
pub fn account_selects(node: &Node, database: &str) -> Result<u64, String> {
    node.psql_db(database, ACCOUNT_SELECT)
        .map_err(|e| e.to_string())?
        .parse()
        .map_err(|e| format!("pg_stat_statements: {e}"))
}

/// Waits until the replica has replayed everything the primary wrote.
pub fn wait_caught_up(cluster: &Cluster) -> Result<(), String> {
    let lsn = cluster
        .primary()
        .psql("SELECT pg_current_wal_lsn()")
        .map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    for r in cluster.replicas() {
        let q = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
        while r.psql(&q).map_err(|e| e.to_string())? != "t" {
            if std::time::Instant::now() > deadline {
                return Err(format!("{} did not replay up to {lsn}", r.name));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    Ok(())
}
