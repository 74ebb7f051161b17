//! Startup settings a client asked for (application_name, DateStyle,
//! `options=-c …`), made true on every backend connection the session uses.

/// Startup parameters that are not settings.
const NOT_SETTINGS: &[&str] = &["user", "database", "options", "replication"];

/// The settings in a StartupMessage, `options` unpacked.
pub fn from_startup(params: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: &str| {
        let k = k.to_ascii_lowercase();
        out.retain(|(ek, _)| *ek != k);
        out.push((k, v.to_owned()));
    };
    for (k, v) in params {
        if k == "options" {
            for (ok, ov) in parse_options(v) {
                put(&ok, &ov);
            }
        } else if !NOT_SETTINGS.contains(&k.as_str()) && !k.starts_with("_pq_.") {
            put(k, v);
        }
    }
    out
}

/// `-c name=value`, `-cname=value` and `--name=value`, with `\` escaping a
/// space, as the server reads its `options` startup parameter.
pub fn parse_options(s: &str) -> Vec<(String, String)> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let mut out = Vec::new();
    let mut it = words.into_iter();
    while let Some(w) = it.next() {
        let setting = if w == "-c" {
            it.next()
        } else if let Some(rest) = w.strip_prefix("--") {
            Some(rest.to_owned())
        } else {
            w.strip_prefix("-c").map(str::to_owned)
        };
        if let Some((k, v)) = setting.as_deref().and_then(|s| s.split_once('=')) {
            out.push((k.replace('-', "_"), v.to_owned()));
        }
    }
    out
}

pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn startup_settings_exclude_identity_and_unpack_options() {
        let got = from_startup(&p(&[
            ("user", "app"),
            ("database", "db"),
            ("application_name", "psql"),
            (
                "options",
                "-c search_path=a,b --statement-timeout=5s -cwork_mem=8MB",
            ),
            ("_pq_.x", "1"),
        ]));
        assert_eq!(
            got,
            p(&[
                ("application_name", "psql"),
                ("search_path", "a,b"),
                ("statement_timeout", "5s"),
                ("work_mem", "8MB"),
            ])
        );
    }

    #[test]
    fn options_honour_backslash_escapes() {
        assert_eq!(
            parse_options(r"-c application_name=my\ app"),
            p(&[("application_name", "my app")])
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
