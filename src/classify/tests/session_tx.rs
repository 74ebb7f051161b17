use super::super::{Class, Classification, DiscardKind, SessionCmd, TxCmd, WriteReason};
use super::{c, run_table};

fn set(name: &str, value: &str, local: bool) -> Class {
    Class::Session(SessionCmd::Set {
        name: name.into(),
        value: value.into(),
        local,
    })
}

fn tx(cmd: TxCmd) -> Class {
    Class::Transaction(cmd)
}

fn commit(chain: bool) -> TxCmd {
    TxCmd::Commit { chain }
}

fn savepoint(name: &str) -> TxCmd {
    TxCmd::Savepoint { name: name.into() }
}

fn release(name: &str) -> TxCmd {
    TxCmd::Release { name: name.into() }
}

fn rollback_to(name: &str) -> TxCmd {
    TxCmd::RollbackTo { name: name.into() }
}

fn session(cmd: SessionCmd) -> Class {
    Class::Session(cmd)
}

#[test]
fn session_and_transaction_table() {
    let ro = |read_only| TxCmd::Begin { read_only };
    let cases: Vec<(&str, Class)> = vec![
        ("SET search_path TO a, b", set("search_path", "a, b", false)),
        (
            "SET search_path = \"$user\", public",
            set("search_path", "\"$user\", public", false),
        ),
        (
            "set SEARCH_PATH to MySchema",
            set("search_path", "myschema", false),
        ),
        (
            "SET LOCAL statement_timeout = 5000",
            set("statement_timeout", "5000", true),
        ),
        (
            "SET SESSION statement_timeout = '5s'",
            set("statement_timeout", "'5s'", false),
        ),
        (
            "SET statement_timeout TO DEFAULT",
            set("statement_timeout", "default", false),
        ),
        (
            "SET application_name = 'pgbench'",
            set("application_name", "'pgbench'", false),
        ),
        (
            "SET myapp.user_id = '42'",
            set("myapp.user_id", "'42'", false),
        ),
        ("SET TIME ZONE 'UTC'", set("timezone", "'UTC'", false)),
        (
            "SET LOCAL TIME ZONE 'Europe/Paris'",
            set("timezone", "'Europe/Paris'", true),
        ),
        ("SET TIME ZONE LOCAL", set("timezone", "DEFAULT", false)),
        ("SET timezone = 'UTC'", set("timezone", "'UTC'", false)),
        ("SET ROLE admin", set("role", "admin", false)),
        ("SET ROLE NONE", set("role", "NONE", false)),
        ("SET LOCAL ROLE admin", set("role", "admin", true)),
        (
            "SET SESSION AUTHORIZATION bob",
            set("session_authorization", "bob", false),
        ),
        (
            "SET SESSION AUTHORIZATION DEFAULT",
            set("session_authorization", "DEFAULT", false),
        ),
        ("SET NAMES 'UTF8'", set("client_encoding", "'UTF8'", false)),
        (
            "SET client_encoding = 'UTF8'",
            set("client_encoding", "'UTF8'", false),
        ),
        (
            "SET standard_conforming_strings = on",
            set("standard_conforming_strings", "on", false),
        ),
        ("RESET ALL", session(SessionCmd::ResetAll)),
        (
            "RESET search_path",
            session(SessionCmd::Reset {
                name: "search_path".into(),
            }),
        ),
        (
            "RESET ROLE",
            session(SessionCmd::Reset {
                name: "role".into(),
            }),
        ),
        (
            "RESET SESSION AUTHORIZATION",
            session(SessionCmd::Reset {
                name: "session_authorization".into(),
            }),
        ),
        (
            "DISCARD ALL",
            session(SessionCmd::Discard(DiscardKind::All)),
        ),
        (
            "DISCARD PLANS",
            session(SessionCmd::Discard(DiscardKind::Plans)),
        ),
        (
            "DISCARD SEQUENCES",
            session(SessionCmd::Discard(DiscardKind::Sequences)),
        ),
        (
            "DISCARD TEMP",
            session(SessionCmd::Discard(DiscardKind::Temp)),
        ),
        (
            "DEALLOCATE ALL",
            session(SessionCmd::Deallocate { name: None }),
        ),
        (
            "DEALLOCATE PREPARE ALL",
            session(SessionCmd::Deallocate { name: None }),
        ),
        (
            "DEALLOCATE p1",
            session(SessionCmd::Deallocate {
                name: Some("p1".into()),
            }),
        ),
        (
            "DEALLOCATE PREPARE \"P1\"",
            session(SessionCmd::Deallocate {
                name: Some("P1".into()),
            }),
        ),
        (
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            session(SessionCmd::SessionCharacteristics {
                read_only: Some(true),
            }),
        ),
        (
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
            session(SessionCmd::SessionCharacteristics {
                read_only: Some(false),
            }),
        ),
        (
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            session(SessionCmd::SessionCharacteristics { read_only: None }),
        ),
        ("LOAD 'auto_explain'", session(SessionCmd::Other)),
        ("BEGIN", tx(ro(None))),
        ("begin;", tx(ro(None))),
        ("BEGIN TRANSACTION", tx(ro(None))),
        ("BEGIN WORK", tx(ro(None))),
        ("START TRANSACTION", tx(ro(None))),
        ("BEGIN READ ONLY", tx(ro(Some(true)))),
        ("BEGIN READ WRITE", tx(ro(Some(false)))),
        ("START TRANSACTION READ ONLY", tx(ro(Some(true)))),
        // A hot standby refuses SERIALIZABLE: read only or not, the primary.
        (
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY",
            tx(ro(Some(false))),
        ),
        (
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE",
            tx(ro(Some(false))),
        ),
        ("BEGIN ISOLATION LEVEL REPEATABLE READ", tx(ro(None))),
        (
            "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE",
            tx(ro(Some(false))),
        ),
        ("COMMIT", tx(commit(false))),
        ("COMMIT WORK", tx(commit(false))),
        ("END", tx(commit(false))),
        ("COMMIT AND CHAIN", tx(commit(true))),
        ("COMMIT AND NO CHAIN", tx(commit(false))),
        ("ROLLBACK", tx(TxCmd::Rollback)),
        ("ABORT", tx(TxCmd::Rollback)),
        ("SAVEPOINT s1", tx(savepoint("s1"))),
        ("savepoint S1", tx(savepoint("s1"))),
        ("SAVEPOINT \"S1\"", tx(savepoint("S1"))),
        ("RELEASE SAVEPOINT s1", tx(release("s1"))),
        ("RELEASE S1", tx(release("s1"))),
        ("ROLLBACK TO SAVEPOINT s1", tx(rollback_to("s1"))),
        ("ROLLBACK TO S1", tx(rollback_to("s1"))),
        ("ROLLBACK WORK TO SAVEPOINT \"S1\"", tx(rollback_to("S1"))),
        (
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            tx(TxCmd::SetTransaction {
                read_only: Some(true),
            }),
        ),
        (
            "SET TRANSACTION READ WRITE",
            tx(TxCmd::SetTransaction {
                read_only: Some(false),
            }),
        ),
        (
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            tx(TxCmd::SetTransaction {
                read_only: Some(false),
            }),
        ),
        (
            "SET TRANSACTION SNAPSHOT '00000003-0000001B-1'",
            tx(TxCmd::SetTransaction { read_only: None }),
        ),
        (
            "SELECT pg_catalog.set_config('search_path', '', false);",
            session(SessionCmd::SetConfig {
                name: "search_path".into(),
                value: "".into(),
            }),
        ),
        (
            "select SET_CONFIG('MyApp.Tenant', 'it''s', 'off') AS x",
            session(SessionCmd::SetConfig {
                name: "myapp.tenant".into(),
                value: "it's".into(),
            }),
        ),
        ("PREPARE TRANSACTION 'gid1'", tx(TxCmd::PrepareTransaction)),
        ("COMMIT PREPARED 'gid1'", tx(TxCmd::CommitPrepared)),
        ("ROLLBACK PREPARED 'gid1'", tx(TxCmd::RollbackPrepared)),
        (
            "/* pgsplit:primary */ commit prepared 'x';",
            tx(TxCmd::CommitPrepared),
        ),
    ];
    run_table(&cases, |(sql, want)| {
        let got = c(sql);
        (got.class != *want).then(|| format!("{sql:?}: want {want:?}, got {:?}", got.class))
    });
}

#[test]
fn prepare_records_inner_class() {
    let got = c("PREPARE p AS SELECT 1");
    let Class::Session(SessionCmd::Prepare { name, statement }) = got.class else {
        panic!("not a prepare: {got:?}");
    };
    assert_eq!(name, "p");
    assert_eq!(statement.class, Class::Read);

    let got = c("PREPARE Ins(int) AS INSERT INTO t VALUES ($1)");
    let Class::Session(SessionCmd::Prepare { name, statement }) = got.class else {
        panic!("not a prepare: {got:?}");
    };
    assert_eq!(name, "ins");
    assert_eq!(statement.class, Class::Write(WriteReason::Dml));

    let got = c("PREPARE l AS SELECT pg_advisory_lock(1)");
    let Class::Session(SessionCmd::Prepare { statement, .. }) = got.class else {
        panic!("not a prepare: {got:?}");
    };
    assert_eq!(statement.pin, Some(super::super::Pin::AdvisoryLock));
}

#[test]
fn execute_names_the_prepared_statement() {
    assert_eq!(c("EXECUTE p").execute.as_deref(), Some("p"));
    assert_eq!(c("EXECUTE MyPlan(1, 2)").execute.as_deref(), Some("myplan"));
    assert_eq!(c("EXECUTE \"MyPlan\"").execute.as_deref(), Some("MyPlan"));
    // A volatile argument decides on its own; no lookup needed.
    assert_eq!(c("EXECUTE p(nextval('s'))").execute, None);
    // Not offered inside multi-statement text.
    assert_eq!(c("EXECUTE p; SELECT 1").execute, None);
}

#[test]
fn replay_sql_round_trips_through_the_classifier() {
    let cases = [
        "SET search_path TO a, b",
        "SET search_path = \"$user\", public",
        "SET LOCAL statement_timeout = 5000",
        "SET TIME ZONE 'UTC'",
        "SET TIME ZONE LOCAL",
        "SET ROLE admin",
        "SET SESSION AUTHORIZATION bob",
        "SET myapp.user_id = '42'",
        "SET \"MyApp\".x = 1",
        "RESET search_path",
        "RESET ALL",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        "SELECT set_config('search_path', '', false)",
        "SELECT set_config('app.note', 'it''s', false)",
    ];
    for sql in cases {
        let first = c(sql);
        let Class::Session(cmd) = &first.class else {
            panic!("{sql}: not a session command: {first:?}");
        };
        let replay = cmd
            .replay_sql()
            .unwrap_or_else(|| panic!("{sql}: no replay"));
        let second: Classification = c(&replay);
        assert_eq!(first.class, second.class, "{sql} -> {replay}");
    }
}

#[test]
fn pg_dump_transaction_modes() {
    let cases: Vec<(&str, Class)> = vec![
        (
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE",
            tx(TxCmd::SetTransaction {
                read_only: Some(false),
            }),
        ),
        (
            "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, NOT DEFERRABLE",
            tx(TxCmd::Begin {
                read_only: Some(false),
            }),
        ),
        (
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY, DEFERRABLE",
            session(SessionCmd::SessionCharacteristics {
                read_only: Some(true),
            }),
        ),
        (
            "BEGIN READ ONLY; SELECT 1",
            Class::Write(WriteReason::MultiStatement),
        ),
        (
            "BEGIN READ ONLY /* c */",
            tx(TxCmd::Begin {
                read_only: Some(true),
            }),
        ),
        (
            "BEGIN READ ONLY READ WRITE",
            tx(TxCmd::Begin {
                read_only: Some(false),
            }),
        ),
        (
            "BEGIN ISOLATION LEVEL READ UNCOMMITTED",
            tx(TxCmd::Begin { read_only: None }),
        ),
    ];
    run_table(&cases, |(sql, want)| {
        let got = c(sql);
        (got.class != *want).then(|| format!("{sql:?}: want {want:?}, got {:?}", got.class))
    });
}

#[test]
fn what_ends_a_pin() {
    use super::super::Pin;
    assert_eq!(c("UNLISTEN *").unpins, vec![Pin::Listen]);
    assert!(c("UNLISTEN chan").unpins.is_empty());
    assert_eq!(c("CLOSE ALL").unpins, vec![Pin::HoldCursor]);
    assert!(c("CLOSE cur").unpins.is_empty());
    assert_eq!(
        c("SELECT pg_advisory_unlock_all()").unpins,
        vec![Pin::AdvisoryLock]
    );
    assert!(c("SELECT pg_advisory_unlock(1)").unpins.is_empty());
    // asyncpg's reset of a pooled connection, as one simple query.
    let reset = c("SELECT pg_advisory_unlock_all();\nCLOSE ALL;\nUNLISTEN *;\nRESET ALL;");
    for pin in [Pin::AdvisoryLock, Pin::HoldCursor, Pin::Listen] {
        assert!(reset.unpins.contains(&pin), "{reset:?}");
    }
    assert_eq!(reset.pin, None);
}

#[test]
fn every_pin_of_a_multi_statement_text_is_kept() {
    use super::super::Pin;
    let got = c("LISTEN a; SELECT pg_advisory_lock(1); LISTEN b");
    assert_eq!(
        got.pins().collect::<Vec<_>>(),
        vec![Pin::Listen, Pin::AdvisoryLock]
    );
}
