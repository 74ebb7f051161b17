//! Statement classification for read/write splitting.
//!
//! [`classify`] turns SQL text into a [`Classification`] that says where the
//! proxy may send it. The rule throughout is *fail safe*: anything not
//! provably a read is a write and goes to the primary.
//!
//! * **Reads** are SELECT / VALUES / TABLE / SHOW / plain EXPLAIN / COPY TO
//!   STDOUT / DECLARE (without HOLD) / FETCH / CLOSE whose tree holds no row
//!   lock, no SELECT INTO, no data-modifying CTE and only calls to functions
//!   the [`FunctionTable`] says are read-safe.
//! * **Empty text** (only whitespace, comments or `;`) is a `Read`: the
//!   server answers it with EmptyQueryResponse and no backend state changes,
//!   so it can go anywhere.
//! * **Several statements** in one simple query: all reads → `Read`; any
//!   write → that (first) write's reason; reads mixed only with session or
//!   transaction commands (`BEGIN; SELECT 1; COMMIT`, `SET x = 1; SELECT 1`)
//!   → `Write(MultiStatement)`. The text runs as one implicit transaction on
//!   one backend, so the primary is the only safe choice; `parts` lists each
//!   statement's class so the proxy can record the session commands for
//!   replay once the text has succeeded.
//! * **Unparseable** text is `Write(Unparseable)`, except for a few
//!   PostgreSQL statements sqlparser lacks, which are recognised by keyword
//!   (`PREPARE TRANSACTION`, `COMMIT PREPARED`, `ROLLBACK PREPARED`, `DO`,
//!   `CLUSTER`, `REINDEX`, `CHECKPOINT`, ...) and `TABLE name`, which is
//!   rewritten to `SELECT * FROM name`. `SET SCHEMA` and `SET XML OPTION`
//!   are classified as the `search_path` and `xmloption` SETs they are;
//!   other unparseable text pins the session when its keywords say it may
//!   leave state behind (SET, RESET, PREPARE, LISTEN, DECLARE … WITH HOLD,
//!   CREATE TEMP, set_config, advisory locks).
//!
//! Known blind spots, all resolved by the standby rejecting the statement
//! (SQLSTATE 25006) rather than by silent misrouting: volatile functions
//! reached only through a view, a user-defined operator or cast, or a
//! trigger on a table that is only read.

mod builtin;
mod cache;
mod fast;
mod functions;
mod lexer;
mod session;
mod set_config;
pub mod shape;
mod statement;
mod types;
mod unparsed;
mod walk;

#[cfg(test)]
mod tests;

pub use cache::{ClassifyCache, MAX_CACHED_SQL_LEN};
pub use functions::{FnVerdict, FunctionTable, Volatility};
pub use types::{Class, Classification, DiscardKind, Hint, Pin, SessionCmd, TxCmd, WriteReason};

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// Classifies one simple-query (or Parse message) text.
pub fn classify(sql: &str, functions: &FunctionTable) -> Classification {
    let pre = lexer::prescan(sql);
    let mut out = classify_body(pre.body, functions);
    out.hint = pre.hint;
    out.star = pre.body.contains('*')
        || lexer::words(pre.body)
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("table"));
    out
}

fn classify_body(body: &str, functions: &FunctionTable) -> Classification {
    if lexer::is_blank(body) {
        return Classification::of(Class::Read);
    }
    if let Some(fast) = fast::fast_path(body) {
        return fast;
    }
    // `TABLE name [...]` is shorthand PostgreSQL accepts but sqlparser
    // does not; the rewrite keeps everything after the name for the scan.
    let rewritten;
    let text = match lexer::words(body).next() {
        Some(w) if w.eq_ignore_ascii_case("table") => {
            rewritten = format!("SELECT * FROM {}", lexer::after_first_word(body));
            rewritten.as_str()
        }
        _ => body,
    };
    match Parser::parse_sql(&PostgreSqlDialect {}, text) {
        Ok(statements) => combine(
            statements
                .iter()
                .map(|s| statement::classify_statement(s, functions))
                .collect(),
        ),
        Err(_) => unparseable(body, functions),
    }
}

/// Text sqlparser rejects: a SET spelling it lacks is classified as its
/// equivalent; anything else is a write, pinned when its keywords say it
/// may leave session state behind (see `unparsed`).
fn unparseable(body: &str, functions: &FunctionTable) -> Classification {
    if let Some(statements) = unparsed::respell_set(body)
        .and_then(|sql| Parser::parse_sql(&PostgreSqlDialect {}, &sql).ok())
    {
        if let [statement] = &statements[..] {
            return statement::classify_statement(statement, functions);
        }
    }
    let c = Classification::write(match statement::keyword_reason(body) {
        // Only a recognised keyword earns a specific reason; a
        // SELECT that failed to parse is just unparseable.
        WriteReason::Other => WriteReason::Unparseable,
        reason => reason,
    });
    let c = Classification {
        last_value: builtin::LAST_VALUE
            .iter()
            .any(|f| lexer::contains_ci(body, f)),
        ..c
    };
    match unparsed::keyword_pin(body) {
        Some(pin) => c.pinned(pin),
        None => c,
    }
}

/// Folds per-statement results into one (see the module docs).
fn combine(mut parts: Vec<Classification>) -> Classification {
    if parts.len() <= 1 {
        return parts
            .pop()
            .unwrap_or_else(|| Classification::of(Class::Read));
    }
    let mut pins: Vec<Pin> = Vec::new();
    for p in parts.iter().flat_map(|p| p.pins()) {
        if !pins.contains(&p) {
            pins.push(p);
        }
    }
    let pin = pins.first().copied();
    let more_pins = pins.get(1..).unwrap_or_default().to_vec();
    let unpins = parts
        .iter()
        .flat_map(|p| p.unpins.iter().copied())
        .collect();
    let first_write = parts.iter().find_map(|p| match p.class {
        Class::Write(r) => Some(r),
        _ => None,
    });
    let class = match first_write {
        Some(reason) => Class::Write(reason),
        None if parts.iter().all(|p| p.class.is_read()) => Class::Read,
        None => Class::Write(WriteReason::MultiStatement),
    };
    let last_value = parts.iter().any(|p| p.last_value);
    Classification {
        class,
        pin,
        unpins,
        more_pins,
        hint: None,
        execute: None,
        parts: parts.into_iter().map(|p| p.class).collect(),
        last_value,
        star: false,
    }
}
