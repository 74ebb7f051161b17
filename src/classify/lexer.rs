//! A tiny scanner for what must be known before (or instead of) parsing:
//! leading comments with routing hints, the first few keywords, and whether
//! the text can hold more than one statement.

use super::types::Hint;

/// The result of skipping leading whitespace and comments.
#[derive(Debug, Clone, Copy)]
pub(super) struct Prescan<'a> {
    /// Hint found in a leading comment; `Primary` wins if both appear.
    pub hint: Option<Hint>,
    /// The text from the first non-comment, non-whitespace character on.
    pub body: &'a str,
}

/// Skips whitespace and comments at the start of `sql`, collecting hints.
pub(super) fn prescan(sql: &str) -> Prescan<'_> {
    let mut hint = None;
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        let Some((comment, after)) = split_comment(rest) else {
            break;
        };
        hint = merge_hint(hint, hint_in(comment));
        rest = after;
    }
    Prescan { hint, body: rest }
}

/// If `s` starts with a comment, returns (comment text, text after it).
/// Block comments nest in PostgreSQL, so nesting is honoured; an
/// unterminated comment swallows the rest, as the server would reject it.
fn split_comment(s: &str) -> Option<(&str, &str)> {
    if let Some(body) = s.strip_prefix("--") {
        return Some(match body.find('\n') {
            Some(i) => (&body[..i], &body[i + 1..]),
            None => (body, ""),
        });
    }
    let body = s.strip_prefix("/*")?;
    let bytes = body.as_bytes();
    let mut depth = 1usize;
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some((&body[..i - 2], &body[i..]));
                }
            }
            _ => i += 1,
        }
    }
    Some((body, ""))
}

fn hint_in(comment: &str) -> Option<Hint> {
    if contains_ci(comment, "pgsplit:primary") {
        Some(Hint::Primary)
    } else if contains_ci(comment, "pgsplit:replica") {
        Some(Hint::Replica)
    } else {
        None
    }
}

fn merge_hint(old: Option<Hint>, new: Option<Hint>) -> Option<Hint> {
    match (old, new) {
        (Some(Hint::Primary), _) | (_, Some(Hint::Primary)) => Some(Hint::Primary),
        (old, new) => new.or(old),
    }
}

/// ASCII case-insensitive substring test (the needle must be ASCII).
pub(super) fn contains_ci(hay: &str, needle: &str) -> bool {
    let n = needle.as_bytes();
    if n.is_empty() {
        return true;
    }
    hay.as_bytes()
        .windows(n.len())
        .any(|w| w.eq_ignore_ascii_case(n))
}

/// The leading keywords of `body`, separated by whitespace or comments.
/// Stops at the first character that is not part of a bare word, so
/// `BEGIN;` yields just `BEGIN`.
pub(super) fn words(body: &str) -> Words<'_> {
    Words { rest: body }
}

pub(super) struct Words<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            self.rest = self.rest.trim_start();
            match split_comment(self.rest) {
                Some((_, after)) => self.rest = after,
                None => break,
            }
        }
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (word, after) = self.rest.split_at(end);
        self.rest = after;
        Some(word)
    }
}

/// The text after the first word of `body` (which must start with a word).
pub(super) fn after_first_word(body: &str) -> &str {
    let end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    &body[end..]
}

/// True when `body` has no `;` except trailing ones. Quotes are ignored on
/// purpose: a `;` inside a literal only makes this answer "maybe several",
/// which sends the text down the full parse.
pub(super) fn is_single_statement(body: &str) -> bool {
    match body.find(';') {
        None => true,
        Some(i) => body[i..]
            .bytes()
            .all(|b| b == b';' || b.is_ascii_whitespace()),
    }
}

/// True when the text is nothing but `;`s, whitespace and comments.
pub(super) fn is_blank(body: &str) -> bool {
    let mut rest = body;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ';' || c.is_whitespace());
        if rest.is_empty() {
            return true;
        }
        match split_comment(rest) {
            Some((_, after)) => rest = after,
            None => return false,
        }
    }
}
