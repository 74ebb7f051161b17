//! Classification without parsing, for statements whose first keywords
//! settle the question. Besides speed this covers PostgreSQL syntax that
//! sqlparser lacks (`PREPARE TRANSACTION`, `DEFERRABLE`, `DO`, ...).

use super::builtin;
use super::lexer;
use super::statement;
use super::types::{Class, Classification, SessionCmd, TxCmd};

/// Decides without parsing when the first keywords settle the question.
/// Only single statements qualify, so nothing in a later statement can be
/// missed; DML and DDL skip the parse unless advisory locks or temporary
/// objects (which pin) might be involved.
pub(super) fn fast_path(body: &str) -> Option<Classification> {
    if !lexer::is_single_statement(body) {
        return None;
    }
    let mut words = lexer::words(body);
    let first = words.next()?;
    let is = |k: &str| first.eq_ignore_ascii_case(k);
    let second_is = |k: &str, words: &mut lexer::Words<'_>| {
        words.next().is_some_and(|w| w.eq_ignore_ascii_case(k))
    };
    if is("prepare") && second_is("transaction", &mut words) {
        return Some(Classification::of(Class::Transaction(
            TxCmd::PrepareTransaction,
        )));
    }
    if is("commit") && second_is("prepared", &mut words) {
        return Some(Classification::of(Class::Transaction(
            TxCmd::CommitPrepared,
        )));
    }
    if is("rollback") && second_is("prepared", &mut words) {
        return Some(Classification::of(Class::Transaction(
            TxCmd::RollbackPrepared,
        )));
    }
    if let Some(tx) = transaction_modes(body) {
        return Some(Classification::of(tx));
    }
    let dml = ["insert", "update", "delete", "merge"];
    let ddl = ["alter", "drop", "truncate", "comment", "grant", "revoke"];
    let maintenance = ["vacuum", "cluster", "reindex", "checkpoint", "do"];
    let simple = dml.iter().chain(&ddl).chain(&maintenance).any(|k| is(k))
        || (is("create") && !lexer::contains_ci(body, "temp"));
    // Words whose functions the parse must see (pins, sequence state).
    let mut parse_anyway = std::iter::once(&"advisory").chain(builtin::LAST_VALUE);
    if simple && !parse_anyway.any(|w| lexer::contains_ci(body, w)) {
        return Some(Classification::write(statement::keyword_reason(first)));
    }
    None
}

/// `BEGIN` / `START TRANSACTION` / `SET TRANSACTION` / `SET SESSION
/// CHARACTERISTICS AS TRANSACTION` followed only by transaction modes.
/// Hand-parsed because sqlparser rejects `DEFERRABLE`, which pg_dump sends.
/// Anything unexpected (comments, snapshots, odd words) returns `None` and
/// goes to the parser.
fn transaction_modes(body: &str) -> Option<Class> {
    let text = body.trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    let mut tokens = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .peekable();
    let mut next_is = |k: &str| tokens.next_if(|t| t.eq_ignore_ascii_case(k)).is_some();
    enum Kind {
        Begin,
        SetTransaction,
        Characteristics,
    }
    let kind = if next_is("begin") {
        let _ = next_is("transaction") || next_is("work");
        Kind::Begin
    } else if next_is("start") && next_is("transaction") {
        Kind::Begin
    } else if next_is("set") {
        if next_is("transaction") {
            Kind::SetTransaction
        } else if next_is("session")
            && next_is("characteristics")
            && next_is("as")
            && next_is("transaction")
        {
            Kind::Characteristics
        } else {
            return None;
        }
    } else {
        return None;
    };
    const MODE_WORDS: &[&str] = &[
        "isolation",
        "level",
        "serializable",
        "repeatable",
        "read",
        "committed",
        "uncommitted",
        "only",
        "write",
        "not",
        "deferrable",
    ];
    let mut read_only = None;
    let mut serializable = false;
    let mut previous_was_read = false;
    for token in tokens {
        serializable |= token.eq_ignore_ascii_case("serializable");
        if !MODE_WORDS.iter().any(|w| token.eq_ignore_ascii_case(w)) {
            return None;
        }
        if previous_was_read && token.eq_ignore_ascii_case("only") {
            read_only = Some(true);
        } else if previous_was_read && token.eq_ignore_ascii_case("write") {
            read_only = Some(false);
        }
        previous_was_read = token.eq_ignore_ascii_case("read");
    }
    // A hot standby refuses SERIALIZABLE ("cannot use serializable mode in
    // a hot standby"): such a transaction, read only or not, needs the primary.
    let begin_read_only = if serializable { Some(false) } else { read_only };
    Some(match kind {
        Kind::Begin => Class::Transaction(TxCmd::Begin {
            read_only: begin_read_only,
        }),
        Kind::SetTransaction => Class::Transaction(TxCmd::SetTransaction {
            read_only: begin_read_only,
        }),
        Kind::Characteristics => Class::Session(SessionCmd::SessionCharacteristics { read_only }),
    })
}
