//! Text sqlparser cannot parse but PostgreSQL may run. Two SET spellings
//! it lacks are respelled as their documented equivalents, so they are
//! tracked like any SET; for anything else the session state the text may
//! leave behind is judged by keywords and pins the session (fail safe: a
//! pin costs a connection, an untracked setting would reach other clients
//! through the pool).

use super::lexer;
use super::types::Pin;

/// `SET [SESSION | LOCAL] SCHEMA v` and `SET [SESSION | LOCAL] XML OPTION
/// v`, which PostgreSQL documents as `search_path` and `xmloption`, spelled
/// as the plain SET sqlparser parses.
pub(super) fn respell_set(body: &str) -> Option<String> {
    if !lexer::is_single_statement(body) || body.contains("--") || body.contains("/*") {
        return None;
    }
    let text = body.trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    let rest = strip_word(text, "set")?;
    let (scope, rest) = match strip_word(rest, "session").or_else(|| strip_word(rest, "local")) {
        Some(after) => (&rest[..rest.len() - after.len()], after),
        None => ("", rest),
    };
    let (name, value) = if let Some(v) = strip_word(rest, "schema") {
        ("search_path", v)
    } else {
        ("xmloption", strip_word(strip_word(rest, "xml")?, "option")?)
    };
    (!value.is_empty()).then(|| format!("SET {scope}{name} TO {value}"))
}

/// The state an unparseable text may leave in the session, by the leading
/// keywords of each `;`-separated piece (a `;` inside a literal only adds
/// pieces, so no statement start is missed) and by the functions it names.
pub(super) fn keyword_pin(body: &str) -> Option<Pin> {
    if lexer::contains_ci(body, "set_config") {
        return Some(Pin::Setting);
    }
    // pg_advisory_lock, pg_try_advisory_lock and their _shared forms; the
    // transaction-level ones are spelled advisory_xact_lock.
    if lexer::contains_ci(body, "advisory_lock") {
        return Some(Pin::AdvisoryLock);
    }
    body.split(';').find_map(piece_pin)
}

fn piece_pin(piece: &str) -> Option<Pin> {
    let mut words = lexer::words(piece);
    let first = words.next()?;
    let is = |w: &str, k: &str| w.eq_ignore_ascii_case(k);
    if is(first, "set") {
        // Transaction-scoped forms end with the transaction.
        let second = words.next();
        let scoped =
            second.is_some_and(|w| is(w, "local") || is(w, "constraints") || is(w, "transaction"));
        return (!scoped).then_some(Pin::Setting);
    }
    if is(first, "reset") || is(first, "prepare") || is(first, "load") {
        return Some(Pin::Setting);
    }
    if is(first, "listen") {
        return Some(Pin::Listen);
    }
    if is(first, "declare") {
        // DECLARE name [BINARY] [INSENSITIVE] [NO] [SCROLL] CURSOR WITH HOLD FOR
        let mut prev = "";
        return words
            .take_while(|w| !is(w, "for"))
            .any(|w| {
                let hold = is(prev, "with") && is(w, "hold");
                prev = w;
                hold
            })
            .then_some(Pin::HoldCursor);
    }
    if is(first, "create") {
        // CREATE [OR REPLACE] [GLOBAL | LOCAL] {TEMP | TEMPORARY} TABLE …
        let object = |w: &str| is(w, "table") || is(w, "view") || is(w, "sequence");
        return words
            .take_while(|w| !object(w))
            .any(|w| is(w, "temp") || is(w, "temporary"))
            .then_some(Pin::TempTable);
    }
    None
}

/// `s` without its leading keyword `w` (any case) and the space after it.
fn strip_word<'a>(s: &'a str, w: &str) -> Option<&'a str> {
    let head = s.get(..w.len())?;
    let after = &s[w.len()..];
    let ends = after.is_empty() || after.starts_with(|c: char| c.is_whitespace());
    (head.eq_ignore_ascii_case(w) && ends).then(|| after.trim_start())
}
