//! SET is transactional: a SET inside a transaction that rolls back is
//! undone on the server, so the session must not carry it to the next
//! connection; one inside a committed transaction stays.

use tokio_postgres::SimpleQueryMessage;

use crate::raw::{flush, parse, query, run, sync, Raw};
use crate::support::*;

/// Others use the connections in between, so the client under test moves
/// around.
async fn move_around(others: &[tokio_postgres::Client]) {
    for o in others {
        o.batch_execute("SELECT 1").await.unwrap();
    }
}

async fn show(c: &tokio_postgres::Client) -> String {
    let rows = c.simple_query("SHOW search_path").await.unwrap();
    rows.iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap()
}

#[tokio::test]
async fn set_inside_a_rolled_back_transaction_is_undone() {
    let p = proxy_with(crate::transaction_mode(2)).await;
    let c = p.client().await;
    let others: Vec<_> = [p.client().await, p.client().await].into();
    let default = show(&c).await;
    c.batch_execute("BEGIN; SET search_path = tp_rolled_back")
        .await
        .unwrap();
    assert_eq!(show(&c).await, "tp_rolled_back", "inside the transaction");
    c.batch_execute("ROLLBACK").await.unwrap();
    // A failed transaction ends in rollback too.
    c.batch_execute("BEGIN").await.unwrap();
    c.batch_execute("SET search_path = tp_failed")
        .await
        .unwrap();
    assert!(c.batch_execute("SELECT 1/0").await.is_err());
    c.batch_execute("COMMIT").await.unwrap();
    for round in 0..10 {
        move_around(&others).await;
        assert_eq!(show(&c).await, default, "round {round}");
    }
    c.batch_execute("BEGIN; SET search_path = tp_committed; COMMIT")
        .await
        .unwrap();
    c.batch_execute("BEGIN").await.unwrap();
    c.batch_execute("SET application_name = 'tp_kept'")
        .await
        .unwrap();
    c.batch_execute("COMMIT").await.unwrap();
    for round in 0..10 {
        move_around(&others).await;
        assert_eq!(show(&c).await, "tp_committed", "round {round}");
        let rows = c
            .query_one("SELECT current_setting('application_name')", &[])
            .await
            .unwrap();
        assert_eq!(rows.get::<_, String>(0), "tp_kept", "round {round}");
    }
    p.stop().await;
}

async fn setting(c: &tokio_postgres::Client, name: &str) -> String {
    routed_setting(c, "", name).await
}

/// `current_setting(name)` read by a statement starting with `route`.
async fn routed_setting(c: &tokio_postgres::Client, route: &str, name: &str) -> String {
    c.query_one(&format!("{route}SELECT current_setting($1)"), &[&name])
        .await
        .unwrap()
        .get(0)
}

/// ROLLBACK TO undoes what was SET after its savepoint and keeps what was
/// SET before it, as the server does; RELEASE keeps both.
#[tokio::test]
async fn rollback_to_savepoint_undoes_only_the_settings_after_it() {
    let p = proxy_with(crate::transaction_mode(2)).await;
    let c = p.client().await;
    let others: Vec<_> = [p.client().await, p.client().await].into();
    let default_app = setting(&c, "application_name").await;
    for sql in [
        "BEGIN",
        "SET search_path = tp_before_savepoint",
        "SAVEPOINT a",
        "SET application_name = 'tp_rolled_back_to'",
        "SAVEPOINT b",
        "SET statement_timeout = '42s'",
        "RELEASE b",
        "ROLLBACK TO a",
        "SAVEPOINT \"A\"",
        "SET work_mem = '3MB'",
        "RELEASE \"A\"",
        "COMMIT",
    ] {
        c.batch_execute(sql).await.unwrap();
    }
    for round in 0..10 {
        move_around(&others).await;
        assert_eq!(show(&c).await, "tp_before_savepoint", "round {round}");
        assert_eq!(
            setting(&c, "application_name").await,
            default_app,
            "round {round}"
        );
        assert_eq!(setting(&c, "statement_timeout").await, "0", "round {round}");
        assert_eq!(setting(&c, "work_mem").await, "3MB", "round {round}");
    }
    p.stop().await;
}

/// Transaction control inside one simple Query, and errors, as the server
/// runs them: each text is sent as one Query; the comment says what the
/// server keeps (checked against PostgreSQL 15 with psql).
#[tokio::test]
async fn transaction_control_inside_one_query_is_followed_statement_by_statement() {
    let p = proxy_with(crate::transaction_mode(2)).await;
    let c = p.client().await;
    let others: Vec<_> = [p.client().await, p.client().await].into();
    let default_app = setting(&c, "application_name").await;
    let default_path = show(&c).await;
    let default_work_mem = setting(&c, "work_mem").await;
    let ok = [
        // A ROLLBACK after the SET in the same text undoes it.
        "BEGIN",
        "SET statement_timeout = '41s'; ROLLBACK",
        // ROLLBACK TO inside one text: 'tp_a' stays.
        "BEGIN; SET application_name = 'tp_a'; SAVEPOINT s; \
         SET application_name = 'tp_b'; ROLLBACK TO s; COMMIT",
        // A SET before BEGIN joins the transaction BEGIN starts, and goes
        // with its ROLLBACK.
        "SET work_mem = '5MB'; BEGIN; SET lock_timeout = '7s'; ROLLBACK",
        // Two transactions in one text both commit.
        "BEGIN; SET maintenance_work_mem = '77MB'; COMMIT; SET geqo_threshold = 9",
        // COMMIT, then an implicit transaction that commits at the end.
        "BEGIN",
        "SET cursor_tuple_fraction = 0.5; COMMIT; SET from_collapse_limit = 7",
    ];
    for sql in ok {
        c.batch_execute(sql).await.unwrap();
    }
    // The error aborts the transaction, but ROLLBACK TO a savepoint set
    // before it keeps what was SET before that savepoint.
    c.batch_execute("BEGIN").await.unwrap();
    let failed = "SET search_path = tp_before_error; SAVEPOINT s; \
                  SET join_collapse_limit = 3; SELECT 1/0; SET geqo = off";
    assert!(c.batch_execute(failed).await.is_err());
    c.batch_execute("ROLLBACK TO s").await.unwrap();
    c.batch_execute("COMMIT").await.unwrap();
    // What a COMMIT earlier in the text committed stays; the implicit
    // transaction after it fails and keeps nothing.
    let failed = "BEGIN; SET enable_seqscan = off; COMMIT; \
                  SET enable_hashjoin = off; SELECT 1/0";
    assert!(c.batch_execute(failed).await.is_err());
    let expected = [
        ("statement_timeout", "0"),
        ("application_name", "tp_a"),
        ("work_mem", default_work_mem.as_str()),
        ("lock_timeout", "0"),
        ("maintenance_work_mem", "77MB"),
        ("geqo_threshold", "9"),
        ("cursor_tuple_fraction", "0.5"),
        ("from_collapse_limit", "7"),
        ("search_path", "tp_before_error"),
        ("join_collapse_limit", "8"),
        ("geqo", "on"),
        ("enable_seqscan", "off"),
        ("enable_hashjoin", "on"),
    ];
    assert_ne!(default_app, "tp_a");
    assert_ne!(default_path, "tp_before_error");
    for round in 0..10 {
        move_around(&others).await;
        let mut wrong = Vec::new();
        for (name, value) in expected {
            let got = setting(&c, name).await;
            if got != value {
                wrong.push(format!("{name} = {got}, not {value}"));
            }
        }
        assert!(wrong.is_empty(), "round {round}: {wrong:#?}");
    }
    p.stop().await;
}

#[tokio::test]
async fn a_prepared_set_counts_each_time_it_runs_and_not_when_prepared() {
    let p = proxy_with(crate::transaction_mode(2)).await;
    let c = p.client().await;
    let others: Vec<_> = [p.client().await, p.client().await].into();
    let default = setting(&c, "application_name").await;
    // Prepared (Parse, Describe, Sync) but not run: nothing changes.
    let a = c
        .prepare("SET application_name = 'tp_prep_a'")
        .await
        .unwrap();
    let b = c
        .prepare("SET application_name = 'tp_prep_b'")
        .await
        .unwrap();
    move_around(&others).await;
    assert_eq!(setting(&c, "application_name").await, default);
    // Run a, then b, then a again by Bind and Execute alone: a holds.
    for stmt in [&a, &b, &a] {
        c.execute(stmt, &[]).await.unwrap();
    }
    for round in 0..10 {
        move_around(&others).await;
        assert_eq!(
            setting(&c, "application_name").await,
            "tp_prep_a",
            "round {round}"
        );
    }
    p.stop().await;
}

async fn on_primary(c: &tokio_postgres::Client, name: &str) -> String {
    routed_setting(c, crate::PRIMARY, name).await
}

/// `SET SCHEMA` and `SET XML OPTION`, spellings sqlparser lacks, follow
/// the client like any SET; a text the proxy cannot parse whose SET the
/// server runs pins the client to its connection, and no other client
/// sees the setting.
#[tokio::test]
async fn set_spellings_the_parser_lacks_follow_the_client_or_pin_it() {
    let p = proxy_with(crate::transaction_mode(2)).await;
    let c = p.client().await;
    let others: Vec<_> = [p.client().await, p.client().await].into();
    let default = show(&others[0]).await;
    c.batch_execute("SET SCHEMA 'tp_schema'").await.unwrap();
    c.batch_execute("SET XML OPTION DOCUMENT").await.unwrap();
    for round in 0..10 {
        move_around(&others).await;
        assert_eq!(show(&c).await, "tp_schema", "round {round}");
        assert_eq!(on_primary(&c, "search_path").await, "tp_schema");
        assert_eq!(setting(&c, "xmloption").await, "document", "round {round}");
        assert_eq!(on_primary(&others[0], "search_path").await, default);
        assert_eq!(on_primary(&others[1], "xmloption").await, "content");
    }
    let d = p.client().await;
    d.batch_execute("CREATE TABLE IF NOT EXISTS tp_unparsed (a int)")
        .await
        .unwrap();
    // FOR NO KEY UPDATE is beyond sqlparser; PostgreSQL runs both.
    d.batch_execute("SET statement_timeout = '7s'; SELECT * FROM tp_unparsed FOR NO KEY UPDATE")
        .await
        .unwrap();
    for round in 0..10 {
        move_around(&others).await;
        assert_eq!(
            on_primary(&d, "statement_timeout").await,
            "7s",
            "round {round}"
        );
        for o in &others {
            assert_eq!(
                on_primary(o, "statement_timeout").await,
                "0",
                "round {round}"
            );
        }
    }
    p.stop().await;
}

/// Raw clients a and b on one connection per backend, and the value of
/// `work_mem` b reads on the primary before a does anything.
async fn two_on_one_connection() -> (TestProxy, Raw, Raw, Vec<String>) {
    let p = proxy_with(crate::transaction_mode(1)).await;
    let a = Raw::connect(p.port).await;
    let mut b = Raw::connect(p.port).await;
    let default = b.send(&[current("work_mem", crate::PRIMARY)]).await.rows;
    (p, a, b, default)
}

/// Parse, Bind and Execute of `sql` as the unnamed statement.
fn step(sql: &str) -> Vec<u8> {
    [parse("", sql), run("")].concat()
}

/// A Query reading setting `name`, routed by `route`.
fn current(name: &str, route: &str) -> Vec<u8> {
    query(&format!("{route}SELECT current_setting('{name}')"))
}

/// What a committed earlier: b, next on that connection, still reads
/// `default` there, and a reads `value` wherever its statements go.
async fn committed(a: &mut Raw, b: &mut Raw, default: &[String], value: &str) {
    let seen = b.send(&[current("work_mem", crate::PRIMARY)]).await.rows;
    assert_eq!(seen, default, "leaked to the next client");
    for route in [crate::PRIMARY, ""] {
        let rows = a.send(&[current("work_mem", route)]).await.rows;
        assert_eq!(rows, [value], "route {route:?}");
    }
}

/// The `SET maintenance_work_mem` after the error never ran: a reads
/// anything but `value` wherever its statements go.
async fn skipped(a: &mut Raw, value: &str) {
    for route in [crate::PRIMARY, ""] {
        let rows = a.send(&[current("maintenance_work_mem", route)]).await.rows;
        assert_ne!(rows, [value], "route {route:?}: a SET after the error");
    }
}

/// An extended-protocol batch (up to one Sync) that commits and then
/// fails: the server keeps what its COMMIT made and skips what follows
/// the error. The session keeps the first on every connection it uses,
/// and the connection it leaves behind is reset for the next client.
#[tokio::test]
async fn a_batch_failing_after_its_commit_keeps_what_the_commit_made() {
    let (p, mut a, mut b, default) = two_on_one_connection().await;
    let reply = a
        .send(&[
            step("BEGIN"),
            step("SET work_mem = '9MB'"),
            step("COMMIT"),
            step("SELECT 1/0"),
            step("SET maintenance_work_mem = '77MB'"),
            sync(),
        ])
        .await;
    assert_eq!(reply.errors, ["22012"]);
    committed(&mut a, &mut b, &default, "9MB").await;
    skipped(&mut a, "77MB").await;
    p.stop().await;
}

/// `COMMIT; SELECT 1/0` in one Query: the COMMIT ran (and committed the
/// SET made earlier in the transaction) before the error.
#[tokio::test]
async fn a_text_failing_after_its_commit_keeps_what_the_commit_made() {
    let (p, mut a, mut b, default) = two_on_one_connection().await;
    a.send(&[query("BEGIN")]).await;
    a.send(&[query("SET work_mem = '11MB'")]).await;
    let reply = a.send(&[query("COMMIT; SELECT 1/0")]).await;
    assert_eq!(reply.errors, ["22012"]);
    committed(&mut a, &mut b, &default, "11MB").await;
    p.stop().await;
}

/// A batch cut short by its backend's loss (sent with Flush, no Sync yet):
/// its SET never took effect, and does not count when the next batch
/// succeeds.
#[tokio::test]
async fn a_batch_lost_with_its_backend_sets_nothing() {
    let (p, mut a, _b, default) = two_on_one_connection().await;
    let pid = format!("{}SELECT pg_backend_pid()", crate::PRIMARY);
    a.write(&[step(&pid), step("SET work_mem = '5MB'"), flush()])
        .await;
    let pid = a.rows_through(2).await;
    let kill = format!("SELECT pg_terminate_backend({})", pid[0]);
    tokio::task::spawn_blocking(move || cluster().primary().psql(&kill))
        .await
        .unwrap()
        .unwrap();
    // The proxy reports the loss at once; the client's Sync ends the batch.
    a.read_until(b'E').await;
    a.send(&[sync()]).await;
    let reply = a.send(&[step("SELECT 1"), sync()]).await;
    assert_eq!((reply.rows, reply.errors.len()), (vec!["1".to_owned()], 0));
    let seen = a.send(&[current("work_mem", crate::PRIMARY)]).await.rows;
    assert_eq!(seen, default, "a SET from the lost batch counted");
    p.stop().await;
}

/// The same batch with a Flush after its error: the error reaches the
/// proxy before the batch owes a ReadyForQuery (the Sync is still to
/// come), and still marks where the batch failed.
#[tokio::test]
async fn a_batch_failing_before_its_sync_keeps_only_what_ran() {
    let (p, mut a, mut b, default) = two_on_one_connection().await;
    a.write(&[
        step("BEGIN"),
        step("SET work_mem = '8MB'"),
        step("COMMIT"),
        step("SELECT 1/0"),
        flush(),
    ])
    .await;
    a.read_until(b'E').await;
    let reply = a
        .send(&[step("SET maintenance_work_mem = '66MB'"), sync()])
        .await;
    assert_eq!(reply.errors, Vec::<String>::new(), "skipped by the server");
    committed(&mut a, &mut b, &default, "8MB").await;
    skipped(&mut a, "66MB").await;
    p.stop().await;
}

/// A SET sent with Flush and no Sync, then a Query to the same server:
/// the server ends the batch's implicit transaction with the Query's, so
/// the SET holds from then on. The session keeps it, and the connection
/// it leaves behind is reset for the next client.
#[tokio::test]
async fn a_set_ended_by_a_query_instead_of_a_sync_counts() {
    let (p, mut a, mut b, default) = two_on_one_connection().await;
    let pin = format!("{}SELECT 1", crate::PRIMARY);
    a.write(&[step(&pin), step("SET work_mem = '3MB'"), flush()])
        .await;
    a.rows_through(2).await;
    let reply = a.send(&[query(&pin)]).await;
    assert_eq!((reply.rows, reply.errors.len()), (vec!["1".to_owned()], 0));
    committed(&mut a, &mut b, &default, "3MB").await;
    p.stop().await;
}

/// Extended-protocol messages with neither Flush nor Sync, then a Query
/// to the same server: they run first, in the Query's implicit
/// transaction, and their answers come first.
#[tokio::test]
async fn messages_gathered_before_a_query_run_before_it() {
    let (p, mut a, mut b, default) = two_on_one_connection().await;
    let first = format!("{}SELECT 1", crate::PRIMARY);
    let then = format!("{}SELECT 2", crate::PRIMARY);
    let reply = a
        .send(&[step(&first), step("SET work_mem = '2MB'"), query(&then)])
        .await;
    assert_eq!(
        (reply.rows, reply.errors.len()),
        (vec!["1".to_owned(), "2".to_owned()], 0)
    );
    committed(&mut a, &mut b, &default, "2MB").await;
    p.stop().await;
}
