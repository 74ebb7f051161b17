use super::super::{classify, Class, FnVerdict, FunctionTable, Volatility, WriteReason};
use super::{c, run_table};

fn rows(list: &[(&str, &str, char)]) -> FunctionTable {
    FunctionTable::from_rows(list.iter().map(|(s, n, v)| ((*s).into(), (*n).into(), *v)))
}

#[test]
fn from_rows_resolution() {
    let t = rows(&[
        ("pg_catalog", "lower", 'i'),
        ("pg_catalog", "nextval", 'v'),
        ("pg_catalog", "random", 'v'),
        ("public", "lower", 'v'),
        ("public", "calc", 's'),
        ("app", "calc", 'i'),
        ("public", "touch", 'i'),
        ("app", "touch", 'v'),
        ("public", "over", 'i'),
        ("public", "over", 'v'),
        ("public", "over", 's'),
    ]);
    // pg_catalog wins for unqualified names.
    assert_eq!(t.verdict(None, "lower"), FnVerdict::Read);
    assert_eq!(t.verdict(Some("public"), "lower"), FnVerdict::Write);
    assert_eq!(t.verdict(None, "nextval"), FnVerdict::Write);
    // Volatile but on the read-safe list.
    assert_eq!(t.verdict(None, "random"), FnVerdict::Read);
    // Ambiguous across schemas: read only if every candidate is.
    assert_eq!(t.verdict(None, "calc"), FnVerdict::Read);
    assert_eq!(t.verdict(None, "touch"), FnVerdict::Write);
    assert_eq!(t.verdict(Some("public"), "touch"), FnVerdict::Read);
    // Overloads: the most volatile wins.
    assert_eq!(
        t.volatility(Some("public"), "over"),
        Some(Volatility::Volatile)
    );
    assert_eq!(t.verdict(None, "over"), FnVerdict::Write);
    assert_eq!(t.verdict(None, "missing"), FnVerdict::Unknown);
    assert_eq!(t.verdict(Some("nope"), "calc"), FnVerdict::Unknown);
    // SQL-syntax "functions" are always known.
    assert_eq!(t.verdict(None, "current_timestamp"), FnVerdict::Read);
    assert_eq!(t.verdict(None, "coalesce"), FnVerdict::Read);
    // A user schema's random() is not the read-safe pg_catalog one.
    let t2 = rows(&[("public", "random", 'v')]);
    assert_eq!(t2.verdict(Some("public"), "random"), FnVerdict::Write);
}

#[test]
fn classify_with_pg_proc_rows() {
    let t = rows(&[
        ("pg_catalog", "count", 'i'),
        ("public", "price_with_tax", 'i'),
        ("public", "audit", 'v'),
    ]);
    assert_eq!(
        classify("SELECT price_with_tax(1), count(*) FROM t", &t).class,
        Class::Read
    );
    assert_eq!(
        classify("SELECT audit(1)", &t).class,
        Class::Write(WriteReason::VolatileFunction)
    );
    assert_eq!(
        classify("SELECT lower('a')", &t).class,
        Class::Write(WriteReason::UnknownFunction)
    );
}

#[test]
fn overrides() {
    let t = FunctionTable::builtin().with_overrides(
        &["app.fast_random".into(), "my_read".into()],
        &["lower".into(), "App.Mixed".into()],
    );
    assert_eq!(t.verdict(Some("app"), "fast_random"), FnVerdict::Read);
    assert_eq!(t.verdict(None, "fast_random"), FnVerdict::Read);
    assert_eq!(t.verdict(Some("x"), "my_read"), FnVerdict::Read);
    assert_eq!(t.verdict(None, "my_read"), FnVerdict::Read);
    assert_eq!(t.verdict(None, "lower"), FnVerdict::Write);
    assert_eq!(t.verdict(Some("pg_catalog"), "lower"), FnVerdict::Write);
    assert_eq!(t.verdict(Some("app"), "mixed"), FnVerdict::Write);
    assert_eq!(classify("SELECT app.fast_random()", &t).class, Class::Read);
    assert!(classify("SELECT lower('A')", &t).class.is_write());
    // A function in both lists is a write.
    let both = FunctionTable::builtin().with_overrides(&["f".into()], &["f".into()]);
    assert_eq!(both.verdict(None, "f"), FnVerdict::Write);
}

#[test]
fn generations_differ() {
    let a = FunctionTable::builtin();
    let b = FunctionTable::builtin();
    assert_ne!(a.generation(), b.generation());
    let g = b.generation();
    let c = b.with_overrides(&[], &[]);
    assert_ne!(c.generation(), g);
}

#[test]
fn builtin_volatility_reporting() {
    let t = FunctionTable::builtin();
    assert_eq!(t.volatility(None, "lower"), Some(Volatility::Immutable));
    assert_eq!(t.volatility(None, "now"), Some(Volatility::Stable));
    assert_eq!(t.volatility(None, "random"), Some(Volatility::Volatile));
    assert_eq!(t.verdict(None, "random"), FnVerdict::Read);
    assert_eq!(
        t.volatility(Some("pg_catalog"), "nextval"),
        Some(Volatility::Volatile)
    );
    assert_eq!(t.verdict(None, "nextval"), FnVerdict::Write);
    assert_eq!(t.volatility(None, "no_such_fn"), None);
    assert!(!t.is_empty());
    assert!(FunctionTable::PG_PROC_QUERY.contains("pg_catalog.pg_proc"));
}

#[test]
fn empty_table_makes_every_call_a_write() {
    let t = FunctionTable::empty();
    assert!(classify("SELECT now()", &t).class.is_write());
    assert!(classify("SELECT 1", &t).class.is_read());
    assert!(classify("SELECT current_timestamp", &t).class.is_read());
}

#[test]
fn lastval_and_currval_are_flagged_wherever_they_appear() {
    let cases: &[(&str, bool)] = &[
        ("SELECT lastval()", true),
        ("SELECT currval('s')", true),
        ("SELECT pg_catalog.currval('s')", true),
        ("INSERT INTO child (parent) VALUES (lastval())", true),
        (
            "INSERT INTO child (parent) SELECT currval('parent_id_seq')",
            true,
        ),
        ("UPDATE t SET x = lastval() WHERE id = 1", true),
        ("SELECT 1; SELECT lastval()", true),
        ("WITH p AS (SELECT currval('s') AS v) SELECT v FROM p", true),
        // Unparseable text is judged by its words.
        ("SELECT lastval() FROM t FOR NO KEY UPDATE", true),
        ("SELECT nextval('s')", false),
        ("INSERT INTO t (who) VALUES ('lastval')", false),
        ("SELECT myschema.lastval()", false),
        ("SELECT 1", false),
    ];
    run_table(cases, |(sql, want)| {
        let got = c(sql).last_value;
        (got != *want).then(|| format!("{sql}: last_value {got}, want {want}"))
    });
}
