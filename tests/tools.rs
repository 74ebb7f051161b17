//! psql and pgbench through the proxy; the pgsplit command-line tools.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{ChildStdin, Command, Stdio};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_dump_reads_from_the_replica_and_restores_land_on_the_primary() {
    let p = proxy().await;
    let c = p.client().await;
    c.batch_execute(
        "DROP TABLE IF EXISTS dump_t; CREATE TABLE dump_t (id int primary key, v text); \
         INSERT INTO dump_t SELECT g, 'v' || g FROM generate_series(1, 100) g",
    )
    .await
    .unwrap();
    // pg_dump is another session: wait until the replica has the table.
    replica_caught_up().await;

    let dir = std::env::temp_dir().join(format!("pgsplit-dump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plain = dir.join("dump.sql");
    let custom = dir.join("dump.custom");
    let url = p.url();
    let before = metric(
        &p,
        "pgsplit_statements_routed_total{target=\"replica\",reason=\"in_transaction\"}",
    )
    .await;
    tokio::task::block_in_place(|| {
        run(Command::new("pg_dump").args([
            "-d",
            &url,
            "-t",
            "dump_t",
            "-f",
            plain.to_str().unwrap(),
        ]));
        run(Command::new("pg_dump").args([
            "-Fc",
            "-d",
            &url,
            "-t",
            "dump_t",
            "-f",
            custom.to_str().unwrap(),
        ]));
    });
    let on_replica = metric(
        &p,
        "pgsplit_statements_routed_total{target=\"replica\",reason=\"in_transaction\"}",
    )
    .await
        - before;
    println!("pg_dump: {on_replica} statements of its snapshot transactions ran on the replica");
    assert!(
        on_replica > 10,
        "pg_dump's snapshot transaction did not run on the replica"
    );

    // Restores through the proxy land on the primary.
    for db in ["restore_plain", "restore_custom"] {
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
            .await
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {db}"))
            .await
            .unwrap();
    }
    let base = format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}", p.port);
    tokio::task::block_in_place(|| {
        run(Command::new("psql").args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &format!("{base}/restore_plain"),
            "-f",
            plain.to_str().unwrap(),
        ]));
        run(Command::new("pg_restore").args([
            "--no-owner",
            "-d",
            &format!("{base}/restore_custom"),
            custom.to_str().unwrap(),
        ]));
    });
    for db in ["restore_plain", "restore_custom"] {
        let out = tokio::task::block_in_place(|| {
            run(Command::new("psql").args([
                "-X",
                "-A",
                "-t",
                "-d",
                &format!("{base}/{db}"),
                "-c",
                "/* pgsplit:primary */ SELECT count(*), inet_server_port() FROM dump_t",
            ]))
        });
        assert_eq!(
            out.trim(),
            format!("100|{}", cluster().primary().port),
            "{db}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    p.stop().await;
}

/// The write end of a pipe whose reader has already exited: what
/// `pgsplit … | head -1` leaves once head has its line. (A real `head`
/// usually exits after the short output is written, so it rarely shows
/// the failure; this always does.)
fn pipe_without_reader() -> ChildStdin {
    let mut reader = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let write_end = reader.stdin.take().unwrap();
    reader.wait().unwrap();
    write_end
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_output_into_a_closed_pipe_exits_quietly() {
    let p = proxy().await;
    let admin = p.proxy.as_ref().unwrap().admin_addr.to_string();
    let dir = std::env::temp_dir().join(format!("pgsplit-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("proxy.toml");
    std::fs::write(&file, config_text()).unwrap();
    let file = file.to_str().unwrap();
    tokio::task::block_in_place(|| {
        for args in [
            vec!["config-check", file],
            vec!["status", "--admin", &admin],
            vec!["status", "--probe", "--config", file],
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_pgsplit"))
                .args(&args)
                .stdin(Stdio::null())
                .stdout(pipe_without_reader())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && stderr.is_empty(),
                "pgsplit {args:?} into a closed pipe: {}\n{stderr}",
                out.status
            );
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    p.stop().await;
}
