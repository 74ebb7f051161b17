//! Read/write splitting against the real primary + replica: every case
//! asserts which backend served the statement (`inet_server_port()`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use std::time::Duration;

use support::*;
use tokio_postgres::{Client, SimpleQueryMessage};

fn primary_port() -> u16 {
    cluster().primary().port
}

fn replica_port() -> u16 {
    cluster().replicas()[0].port
}

/// First column of the first row of a simple query.
async fn one(c: &Client, sql: &str) -> String {
    let msgs = c
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    msgs.iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

async fn port(c: &Client, sql: &str) -> u16 {
    one(c, sql).await.parse().unwrap()
}

#[tokio::test]
async fn reads_go_to_the_replica_and_writes_to_the_primary() {
    let p = proxy().await;
    let c = p.client().await;
    c.batch_execute("CREATE TABLE IF NOT EXISTS rt_t (id serial, port int)")
        .await
        .unwrap();
    assert_eq!(port(&c, "SELECT inet_server_port()").await, replica_port());
    assert_eq!(
        port(
            &c,
            "INSERT INTO rt_t (port) SELECT inet_server_port() RETURNING port"
        )
        .await,
        primary_port()
    );
    // Extended protocol, unnamed and named statements.
    let row = c
        .query_one("SELECT inet_server_port(), $1::int", &[&5i32])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0) as u16, replica_port());
    let stmt = c.prepare("SELECT inet_server_port()").await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            c.query_one(&stmt, &[]).await.unwrap().get::<_, i32>(0) as u16,
            replica_port()
        );
    }
    let ins = c
        .prepare("INSERT INTO rt_t (port) VALUES (inet_server_port()) RETURNING port")
        .await
        .unwrap();
    assert_eq!(
        c.query_one(&ins, &[]).await.unwrap().get::<_, i32>(0) as u16,
        primary_port()
    );
    // Locking reads and volatile functions are writes.
    assert_eq!(
        port(&c, "SELECT inet_server_port() FROM rt_t LIMIT 1 FOR UPDATE").await,
        primary_port()
    );
    assert_eq!(
        port(
            &c,
            "SELECT inet_server_port() FROM (SELECT nextval('rt_t_id_seq')) s"
        )
        .await,
        primary_port()
    );
    // Text sqlparser cannot parse fails safe, to the primary.
    assert_eq!(
        port(
            &c,
            "SELECT inet_server_port() FROM ROWS FROM (generate_series(1, 1)) AS x"
        )
        .await,
        primary_port()
    );
    p.stop().await;
}

#[tokio::test]
async fn transactions_stay_on_one_backend_and_read_only_ones_use_the_replica() {
    let p = proxy().await;
    let c = p.client().await;
    c.batch_execute("BEGIN READ ONLY").await.unwrap();
    assert_eq!(port(&c, "SELECT inet_server_port()").await, replica_port());
    assert_eq!(port(&c, "SELECT inet_server_port()").await, replica_port());
    c.batch_execute("COMMIT").await.unwrap();

    c.batch_execute("BEGIN").await.unwrap();
    assert_eq!(port(&c, "SELECT inet_server_port()").await, primary_port());
    c.batch_execute("COMMIT").await.unwrap();

    c.batch_execute("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .unwrap();
    assert_eq!(port(&c, "SELECT inet_server_port()").await, replica_port());
    c.batch_execute("ROLLBACK").await.unwrap();

    // What PgJDBC sends for @Transactional(readOnly = true) in autocommit
    // off mode: BEGIN READ ONLY through the extended protocol.
    c.batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        .await
        .unwrap();
    c.batch_execute("BEGIN").await.unwrap();
    assert_eq!(port(&c, "SELECT inet_server_port()").await, replica_port());
    c.batch_execute("COMMIT").await.unwrap();
    c.batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        .await
        .unwrap();
    c.batch_execute("BEGIN").await.unwrap();
    assert_eq!(port(&c, "SELECT inet_server_port()").await, primary_port());
    c.batch_execute("COMMIT").await.unwrap();

    // A transaction through the extended protocol (tokio-postgres).
    let mut c = p.client().await;
    let tx = c.build_transaction().read_only(true).start().await.unwrap();
    let r = tx
        .query_one("SELECT inet_server_port()", &[])
        .await
        .unwrap();
    assert_eq!(r.get::<_, i32>(0) as u16, replica_port());
    tx.commit().await.unwrap();
    p.stop().await;
}

#[tokio::test]
async fn hints_win() {
    let p = proxy().await;
    let c = p.client().await;
    assert_eq!(
        port(&c, "/* pgsplit:primary */ SELECT inet_server_port()").await,
        primary_port()
    );
    assert_eq!(
        port(
            &c,
            "/* pgsplit:replica */ SELECT inet_server_port(), random()"
        )
        .await,
        replica_port()
    );
    p.stop().await;
}

#[tokio::test]
async fn session_state_follows_the_session_to_both_backends() {
    let p = proxy().await;
    let c = p.client().await;
    c.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS rt_a; \
         CREATE TABLE IF NOT EXISTS rt_a.marker (v text); \
         TRUNCATE rt_a.marker; INSERT INTO rt_a.marker VALUES ('a')",
    )
    .await
    .unwrap();
    replica_caught_up().await;
    c.batch_execute("SET search_path TO rt_a, public")
        .await
        .unwrap();
    c.batch_execute("SET application_name = 'splitter'")
        .await
        .unwrap();
    // Read on the replica, write on the primary: both see the search_path.
    let row = c
        .query_one(
            "SELECT v, inet_server_port(), current_setting('application_name') FROM marker",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "a");
    assert_eq!(row.get::<_, i32>(1) as u16, replica_port());
    assert_eq!(row.get::<_, String>(2), "splitter");
    let row = c
        .query_one(
            "INSERT INTO marker VALUES ('b') RETURNING inet_server_port(), current_setting('search_path')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0) as u16, primary_port());
    assert_eq!(row.get::<_, String>(1), "rt_a, public");
    // RESET is followed on both too.
    c.batch_execute("RESET search_path").await.unwrap();
    let e = c.query_one("SELECT v FROM marker", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "42P01");
    p.stop().await;
}

#[tokio::test]
async fn set_config_follows_the_session_and_nothing_leaks_to_the_next_client() {
    // One connection per backend, so the next client gets the same ones.
    let p = proxy_with(|c| c.pool.max_per_backend = 1).await;
    {
        let c = p.client().await;
        // pg_dump's form: tracked like SET and replayed on the replica.
        c.batch_execute("SELECT pg_catalog.set_config('search_path', '', false)")
            .await
            .unwrap();
        let on_replica = one(
            &c,
            "SELECT current_setting('search_path') || '|' || inet_server_port()",
        )
        .await;
        assert_eq!(on_replica, format!("|{}", replica_port()));
        c.batch_execute("SET work_mem = '3MB'").await.unwrap();
        assert_eq!(one(&c, "SHOW work_mem").await, "3MB");
    }
    // The connections went back without DISCARD ALL; the next client gets
    // its own (default) values on both backends.
    let ok = eventually(Duration::from_secs(5), || async {
        let Ok((c, conn)) = tokio_postgres::connect(&p.conninfo(""), tokio_postgres::NoTls).await
        else {
            return false;
        };
        tokio::spawn(conn);
        let read = one(&c, "SELECT current_setting('search_path') || '|' || current_setting('work_mem')").await;
        let write = one(
            &c,
            "SELECT current_setting('search_path') || '|' || current_setting('work_mem') || '|' || txid_current()",
        )
        .await;
        read == "\"$user\", public|4MB" && write.starts_with("\"$user\", public|4MB|")
    })
    .await;
    assert!(ok, "session state leaked to the next client");
    // An untracked set_config (value from a query) in session mode leaves
    // the session where it is and resets the connection afterwards.
    {
        let c = p.client().await;
        c.batch_execute(
            "SELECT set_config(name, '5MB', false) FROM pg_settings WHERE name = 'work_mem'",
        )
        .await
        .unwrap();
        assert_eq!(port(&c, "SELECT inet_server_port()").await, replica_port());
    }
    let ok = eventually(Duration::from_secs(5), || async {
        let Ok((c, conn)) = tokio_postgres::connect(&p.conninfo(""), tokio_postgres::NoTls).await
        else {
            return false;
        };
        tokio::spawn(conn);
        one(
            &c,
            "SELECT current_setting('work_mem') || '|' || txid_current()",
        )
        .await
        .starts_with("4MB|")
    })
    .await;
    assert!(ok, "an untracked setting leaked to the next client");
    p.stop().await;
}

#[tokio::test]
async fn sql_prepare_and_execute_across_backends() {
    let p = proxy().await;
    let c = p.client().await;
    c.batch_execute("PREPARE rp AS SELECT inet_server_port()")
        .await
        .unwrap();
    assert_eq!(port(&c, "EXECUTE rp").await, replica_port());
    c.batch_execute("CREATE TABLE IF NOT EXISTS rt_p (port int)")
        .await
        .unwrap();
    c.batch_execute("PREPARE wp AS INSERT INTO rt_p VALUES (inet_server_port()) RETURNING port")
        .await
        .unwrap();
    assert_eq!(port(&c, "EXECUTE wp").await, primary_port());
    c.batch_execute("DEALLOCATE rp").await.unwrap();
    let e = c.simple_query("EXECUTE rp").await.unwrap_err();
    assert_eq!(sqlstate(&e), "26000");
    // The name can be prepared again, with other SQL.
    c.batch_execute("PREPARE rp AS SELECT 40 + 2")
        .await
        .unwrap();
    assert_eq!(one(&c, "EXECUTE rp").await, "42");
    p.stop().await;
}

#[tokio::test]
async fn pins_keep_the_session_on_the_primary() {
    let p = proxy().await;
    let c = p.client().await;
    assert_eq!(port(&c, "SELECT inet_server_port()").await, replica_port());
    c.batch_execute("CREATE TEMP TABLE rt_tmp (a int)")
        .await
        .unwrap();
    assert_eq!(
        port(&c, "SELECT inet_server_port() FROM (SELECT 1) s").await,
        primary_port()
    );
    assert_eq!(one(&c, "SELECT count(*) FROM rt_tmp").await, "0");
    c.batch_execute("DISCARD ALL").await.unwrap();
    assert_eq!(port(&c, "SELECT inet_server_port()").await, replica_port());
    let c2 = p.client().await;
    c2.batch_execute("SELECT pg_advisory_lock(4242)")
        .await
        .unwrap();
    assert_eq!(port(&c2, "SELECT inet_server_port()").await, primary_port());
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_reads_from_the_replica() {
    let p = proxy().await;
    let url = p.url();
    let out = tokio::task::block_in_place(|| {
        Command::new("psql")
            .args([
                "-X",
                "-A",
                "-t",
                "-d",
                &url,
                "-c",
                "SELECT inet_server_port()",
            ])
            .output()
            .unwrap()
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        replica_port().to_string()
    );
    p.stop().await;
}

/// Splits tests/data/statements.sql (statements separated by `-- next`).
fn corpus() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/statements.sql"
    ))
    .unwrap();
    text.split("\n-- next\n")
        .skip(1)
        .map(|s| {
            s.lines()
                .filter(|l| !l.starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_owned()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// The misroute oracle: every statement the classifier calls a read runs
/// inside `BEGIN READ ONLY` on the standby without a read-only violation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_statement_classified_read_writes_on_a_standby() {
    // The corpus creates and drops a role.
    cluster()
        .primary()
        .psql("ALTER ROLE app CREATEROLE; GRANT pg_checkpoint TO app")
        .unwrap();
    let p = proxy().await;
    // The schema goes through the proxy (psql -f, as a restore would).
    let url = p.url();
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/schema.sql");
    let out = tokio::task::block_in_place(|| {
        Command::new("psql")
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &url,
                "-f",
                schema,
            ])
            .output()
            .unwrap()
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    replica_caught_up().await;

    let functions = {
        let c = direct(cluster().primary()).await;
        let rows = c
            .simple_query(pgsplit::classify::FunctionTable::PG_PROC_QUERY)
            .await
            .unwrap();
        let rows: Vec<(String, String, char)> = rows
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some((
                    r.get(0)?.to_owned(),
                    r.get(1)?.to_owned(),
                    r.get(2)?.chars().next()?,
                )),
                _ => None,
            })
            .collect();
        pgsplit::classify::FunctionTable::from_rows(rows)
    };
    let standby = direct(&cluster().replicas()[0]).await;
    let statements = corpus();
    assert!(statements.len() >= 300, "{} statements", statements.len());
    let mut reads = 0;
    let mut violations = Vec::new();
    for sql in &statements {
        let class = pgsplit::classify::classify(sql, &functions);
        if class.class != pgsplit::classify::Class::Read {
            continue;
        }
        reads += 1;
        standby.batch_execute("BEGIN READ ONLY").await.unwrap();
        if let Err(e) = standby.simple_query(sql).await {
            let code = e.code().map(|c| c.code().to_owned()).unwrap_or_default();
            let msg = e
                .as_db_error()
                .map(|d| d.message().to_owned())
                .unwrap_or_default();
            if code == "25006"
                || msg.contains("during recovery")
                || msg.contains("read-only transaction")
            {
                violations.push(format!("{sql}: {code} {msg}"));
            }
        }
        standby.batch_execute("ROLLBACK").await.unwrap();
    }
    assert!(
        violations.is_empty(),
        "reads that write:\n{}",
        violations.join("\n")
    );

    // The whole corpus through the proxy, in order, on one session.
    let c = p.client().await;
    let before = routed_to_replica(&p).await;
    let mut failed = Vec::new();
    for sql in &statements {
        if let Err(e) = c.simple_query(sql).await {
            failed.push(format!("{sql}: {e:?}"));
        }
    }
    let served = routed_to_replica(&p).await - before;
    println!(
        "corpus: {} statements, {reads} classified read; the replica served {served} \
         ({:.0}% of the corpus, reads and the statements of read-only transactions)",
        statements.len(),
        100.0 * served as f64 / statements.len() as f64
    );
    assert!(
        failed.is_empty(),
        "statements failed through the proxy:\n{}",
        failed.join("\n")
    );
    p.stop().await;
}

async fn routed_to_replica(p: &TestProxy) -> u64 {
    metric(p, "pgsplit_statements_routed_total{target=\"replica\"").await
}
