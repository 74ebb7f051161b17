//! psql and pgbench through the proxy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::*;

fn run(cmd: &mut Command) -> String {
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run {cmd:?}: {e} (install the postgresql-client package)"),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn psql(p: &TestProxy, sql: &str) -> String {
    run(Command::new("psql").args([
        "-X",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        &p.url(),
        "-c",
        sql,
    ]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_runs_commands() {
    let p = proxy().await;
    let out = tokio::task::block_in_place(|| psql(&p, "SELECT 40 + 2"));
    assert_eq!(out.trim(), "42");
    let out = tokio::task::block_in_place(|| {
        psql(
            &p,
            "CREATE TEMP TABLE tt(a int); INSERT INTO tt VALUES (1),(2); SELECT sum(a) FROM tt",
        )
    });
    assert_eq!(out.trim().lines().last(), Some("3"), "{out}");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_in_all_protocol_modes_has_no_failures() {
    let p = proxy().await;
    let url = p.url();
    tokio::task::block_in_place(|| {
        run(Command::new("pgbench").args(["-i", "-q", "-s", "1", &url]));
        for mode in ["simple", "extended", "prepared"] {
            let out = run(Command::new("pgbench").args(["-T", "5", "-c", "4", "-M", mode, &url]));
            let failed = out
                .lines()
                .find(|l| l.starts_with("number of failed transactions"))
                .unwrap_or_else(|| panic!("no failure count in pgbench output:\n{out}"));
            assert!(failed.contains(": 0 "), "{mode}: {failed}");
            let tps = out.lines().find(|l| l.starts_with("tps")).unwrap_or("");
            println!("pgbench -M {mode}: {tps}");
        }
    });
    p.stop().await;
}
