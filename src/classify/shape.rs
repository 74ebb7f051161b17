//! A statement's shape: its text with literal values replaced, so the
//! classification cache serves `… WHERE aid = 17` and `… WHERE aid = 42`
//! from one entry. A literal never changes where a statement may run,
//! except for session commands (`SET x = 'a'` must replay its value); the
//! cache only shares classes that carry no values (see `Catalog`). Text
//! calling `set_config` has no shape: whether its third argument is `'true'`
//! or `'false'` decides between a transaction-local value and a session
//! setting to track.

/// The text with numeric and string literals replaced by `?`, comments kept
/// (a routing hint lives there); `None` when it holds no literal. The key
/// starts with a NUL byte, which no Query text can contain, so a shape never
/// collides with a real statement.
pub fn shape(sql: &str) -> Option<String> {
    let mut out = String::new();
    shape_into(sql, &mut out).then_some(out)
}

/// [`shape`] written into `out` (cleared first), so a caller on the hot
/// path reuses one buffer; false when the text has no shape.
pub fn shape_into(sql: &str, out: &mut String) -> bool {
    out.clear();
    shape_bytes(sql, out).is_some()
}

/// Bytes the scan stops at; everything else is copied as it is.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = true;
        c += 1;
    }
    t[b'-' as usize] = true;
    t[b'/' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\'' as usize] = true;
    t[b'$' as usize] = true;
    t[b'_' as usize] = true;
    t
};

/// One pass over the text: ordinary bytes are skipped through a table, so
/// a typical statement costs a few instructions per byte (this runs on
/// every Query whose exact text is not cached).
fn shape_bytes(sql: &str, out: &mut String) -> Option<()> {
    let b = sql.as_bytes();
    out.reserve(sql.len() + 1);
    out.push('\0');
    let mut replaced = false;
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let c = b[i];
        if !SPECIAL[c as usize] {
            i += 1;
            continue;
        }
        let next = b.get(i + 1).copied();
        let end = match c {
            b'-' if next == Some(b'-') => {
                i = b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |p| i + p);
                continue;
            }
            b'/' if next == Some(b'*') => {
                i = sql[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
                continue;
            }
            // A quoted identifier is not a literal; skip it whole (a quoted
            // "set_config" is still that function).
            b'"' => {
                let close = b[i + 1..]
                    .iter()
                    .position(|&x| x == b'"')
                    .map_or(b.len(), |p| i + 1 + p);
                if super::lexer::contains_ci(&sql[i + 1..close], "set_config") {
                    return None;
                }
                i = close + 1;
                continue;
            }
            b'_' => {
                if is_set_config(b, i) {
                    return None;
                }
                i += 1;
                continue;
            }
            b'\'' => string_end(b, i)?,
            b'0'..=b'9' if !word_char(i.checked_sub(1).map(|p| b[p])) => {
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                    j += 1;
                }
                if j < b.len() && (b[j].is_ascii_alphabetic() || b[j] == b'_') {
                    // 1e5, 0x1F, 12abc: leave such text alone.
                    return None;
                }
                j
            }
            // E'…', dollar quotes and the like: not worth the risk.
            b'$' => return None,
            _ => {
                i += 1;
                continue;
            }
        };
        let start = if c == b'\''
            && i > 0
            && matches!(
                b[i - 1],
                b'E' | b'e' | b'B' | b'b' | b'X' | b'x' | b'N' | b'n' | b'U' | b'u'
            ) {
            return None;
        } else {
            i
        };
        out.push_str(&sql[copied..start]);
        out.push('?');
        copied = end;
        replaced = true;
        i = end;
    }
    if !replaced {
        return None;
    }
    out.push_str(&sql[copied..]);
    Some(())
}

/// `set_config` (any case) around the underscore at `i`.
fn is_set_config(b: &[u8], i: usize) -> bool {
    i >= 3
        && b.len() >= i + 7
        && b[i - 3..i].eq_ignore_ascii_case(b"set")
        && b[i + 1..i + 7].eq_ignore_ascii_case(b"config")
}

fn word_char(c: Option<u8>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$')
}

/// End of a '…' literal starting at `i` ('' is an escaped quote).
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'\'' if b.get(j + 1) == Some(&b'\'') => j += 2,
            b'\'' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shape;

    #[test]
    fn literals_become_placeholders() {
        let s = |q: &str| shape(q).map(|k| k[1..].to_owned());
        assert_eq!(
            s("SELECT abalance FROM pgbench_accounts WHERE aid = 4711;"),
            Some("SELECT abalance FROM pgbench_accounts WHERE aid = ?;".into())
        );
        assert_eq!(
            s("SELECT * FROM t WHERE n = 'it''s' AND x > 1.5"),
            Some("SELECT * FROM t WHERE n = ? AND x > ?".into())
        );
        assert_eq!(s("SELECT t1.c2 FROM t1"), None, "digits inside names stay");
        assert_eq!(
            s("/* pgsplit:primary */ SELECT 1"),
            Some("/* pgsplit:primary */ SELECT ?".into())
        );
        assert_eq!(s("SELECT \"col 1\" FROM t -- it's\n"), None);
        assert_eq!(s("SELECT 1e5"), None);
        assert_eq!(s("SELECT E'\\n'"), None);
        assert_eq!(s("DO $$ BEGIN END $$"), None);
        assert_eq!(s("SELECT 'unterminated"), None);
        assert!(shape("SELECT 1").is_some_and(|k| k.starts_with('\0')));
    }

    #[test]
    fn set_config_has_no_shape() {
        // 'true' and 'false' there decide between a local and a session value.
        assert_eq!(shape("SELECT set_config('a.b', 'v', 'false')"), None);
        assert_eq!(shape("select SET_CONFIG('a.b', 'v', 'true') from t"), None);
        assert_eq!(
            shape("SELECT pg_catalog.set_config('a.b', 'v', false)"),
            None
        );
        assert_eq!(shape("SELECT \"set_config\"('a.b', 'v', false)"), None);
        // Only a call matters: the name inside a string or comment is text.
        assert!(shape("SELECT 'set_config' -- set_config\n").is_some());
        assert!(shape("SELECT my_config_id, 1").is_some());
        assert!(shape("SELECT _set, set_, set_confi, 1").is_some());
    }

    #[test]
    fn same_shape_for_different_values() {
        assert_eq!(
            shape("UPDATE a SET b = b + 5 WHERE id = 9"),
            shape("UPDATE a SET b = b + 77 WHERE id = 123")
        );
    }
}
