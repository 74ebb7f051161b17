//! Runs the committed corpus (tests/data/statements.sql) through the
//! classifier with a real pg_proc snapshot (tests/data/pg_proc.tsv) and with
//! the built-in table alone.

use std::sync::OnceLock;

use super::super::{classify, Class, FunctionTable};
use super::builtin;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn read(name: &str) -> String {
    let path = format!("{DATA}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A table built from the pg_proc dump of PostgreSQL 15 with schema.sql.
pub(super) fn pg_proc() -> &'static FunctionTable {
    static TABLE: OnceLock<FunctionTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let text = read("pg_proc.tsv");
        let rows: Vec<(String, String, char)> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut f = l.split('\t');
                let (s, n, v) = (f.next()?, f.next()?, f.next()?);
                Some((s.to_owned(), n.to_owned(), v.chars().next()?))
            })
            .collect();
        assert!(rows.len() > 2000, "pg_proc.tsv has {} rows", rows.len());
        FunctionTable::from_rows(rows)
    })
}

#[test]
fn corpus_matches_annotations_with_pg_proc() {
    let stmts = split_corpus(&read("statements.sql"));
    assert!(
        stmts.len() >= 300,
        "corpus has only {} statements",
        stmts.len()
    );
    let mut reads = 0usize;
    let mut mismatches = Vec::new();
    for (expect, sql) in &stmts {
        let got = classify(sql, pg_proc());
        reads += usize::from(got.class == Class::Read);
        if let Some(expect) = expect {
            if got.class.label() != expect {
                mismatches.push(format!("{sql:?}: annotated {expect}, got {:?}", got.class));
            }
        }
    }
    println!(
        "corpus with pg_proc: {} statements, {} reads ({:.1}%)",
        stmts.len(),
        reads,
        100.0 * reads as f64 / stmts.len() as f64
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn corpus_with_builtin_table_never_reads_more() {
    // The built-in table knows fewer functions, so it may only turn reads
    // into writes, never the other way round.
    let stmts = split_corpus(&read("statements.sql"));
    let mut reads = 0usize;
    for (_, sql) in &stmts {
        let with_builtin = classify(sql, builtin());
        if with_builtin.class.is_read() {
            reads += 1;
            assert!(classify(sql, pg_proc()).class.is_read(), "{sql}");
        }
    }
    println!(
        "corpus with builtin table: {} statements, {} reads ({:.1}%)",
        stmts.len(),
        reads,
        100.0 * reads as f64 / stmts.len() as f64
    );
}

/// Splits the corpus format documented at the top of statements.sql:
/// statements are separated by lines that are exactly `-- next`; a first
/// line `-- expect: LABEL` gives the expected `Class::label()`.
pub(super) fn split_corpus(text: &str) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    for chunk in text.split("\n-- next\n") {
        let mut expect = None;
        let mut sql = String::new();
        for line in chunk.lines() {
            if let Some(label) = line.strip_prefix("-- expect: ") {
                expect = Some(label.trim().to_owned());
            } else if !line.starts_with("--") || !sql.is_empty() {
                sql.push_str(line);
                sql.push('\n');
            }
        }
        let sql = sql.trim().to_owned();
        if !sql.is_empty() {
            out.push((expect, sql));
        }
    }
    out
}
