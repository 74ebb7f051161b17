//! The unnamed statement, kept on the server once it repeats.
//!
//! Drivers that bind parameters without naming a statement (libpq's
//! `PQexecParams`, pgbench `-M extended`, most ORMs through them) send
//! Parse, Bind, Execute for the same text again and again, and the server
//! parses, analyses and plans it every time. A connection that sees such a
//! text a second time prepares it under its server name
//! (`backend::statements`, the name a client's named statement with that
//! text has too) and the client's `""` is rewritten to that name in the
//! Binds and Describes that follow; from then on its Parse is sent as an
//! empty Parse (no text: the server answers ParseComplete in its place in
//! the reply stream and has nothing to parse), as drivers that prepare
//! after a few uses do (PgJDBC's `prepareThreshold`, Npgsql's automatic
//! preparation). What changes on the server is what changes for any
//! prepared statement: after five runs it may use a generic plan
//! (`plan_cache_mode` decides). `[pool] auto_prepare = false` turns it off.
//!
//! Only plain statements are kept (reads and data changes): not session or
//! transaction commands, DDL, or texts holding SQL-level PREPARE/EXECUTE.
//! Nor a text with a `*` (say `SELECT *`, `RETURNING *`): a column added
//! to its table changes its result, and the server refuses to run a kept
//! statement whose result changed ("cached plan must not change result
//! type", 0A000) where a statement parsed anew just runs. Any other change
//! of a kept statement's result (a selected column's type altered) fails
//! it once on a connection: a request that fails unsettles the statements
//! it kept, and the connection drops them before its next request.
//! The decision is per connection ([`Statements::auto`]) and made when the
//! batch goes to it, in one pass over the batch ([`apply`]).

use bytes::{BufMut, BytesMut};

use super::rewrite;
use crate::backend::statements::{self, Auto, Kept, Statements};
use crate::classify::{Class, Classification, WriteReason};
use crate::protocol::messages::{self, put_frame};
use crate::protocol::tag;

/// Whether an unnamed statement of this class is worth keeping.
pub(super) fn worth(c: &Classification) -> bool {
    let plain = match &c.class {
        Class::Read => true,
        Class::Write(r) => matches!(
            r,
            WriteReason::Dml
                | WriteReason::Locking
                | WriteReason::VolatileFunction
                | WriteReason::UnknownFunction
        ),
        Class::Session(_) | Class::Transaction(_) => false,
    };
    plain
        && c.pin.is_none()
        && c.unpins.is_empty()
        && c.more_pins.is_empty()
        && c.execute.is_none()
        && c.parts.is_empty()
        && !c.star
}

/// What a pass over a batch left.
#[derive(Debug, Default)]
pub(super) struct Walked {
    /// The statement the client's `""` is on the server after the batch
    /// (`None`: the server's own unnamed statement).
    pub current: Option<u64>,
    /// Statements the batch prepares or reuses: settled by its
    /// ReadyForQuery (a prepared one is pending until then; a failure
    /// makes them uncertain).
    pub kept: Kept,
    /// Unnamed Parses sent prepared under a server name, and sent empty.
    pub prepared: u64,
    pub reused: u64,
}

/// Rewrites `batch` for the connection whose statements are `have`: each
/// unnamed Parse at an offset in `candidates` goes plain, prepared under
/// its server name, or empty (the connection has it); Binds and Describes
/// of `""` after a statement kept so name it. `carry` is what `""` is on
/// this connection from an earlier batch. `spare` is scratch space,
/// swapped with `batch` when anything changed. A statement the batch also
/// parses under a client's name (`named`) goes plain: the server would
/// refuse the second Parse of its server name.
pub(super) fn apply(
    batch: &mut BytesMut,
    spare: &mut BytesMut,
    candidates: &[usize],
    carry: Option<u64>,
    have: &mut Statements,
    named: impl Fn(u64) -> bool,
) -> Walked {
    let mut walked = Walked {
        current: carry,
        kept: Kept::default(),
        prepared: 0,
        reused: 0,
    };
    let out = spare;
    out.clear();
    out.reserve(batch.len() + 64);
    let mut changed = false;
    let mut candidates = candidates.iter().copied().peekable();
    let mut at = 0;
    while let Some(end) = frame_end(batch, at) {
        let frame = &batch[at..end];
        let body = &frame[5..];
        match frame[0] {
            tag::PARSE if body.first() == Some(&0) => {
                let candidate = candidates.next_if_eq(&at).is_some();
                let content = &body[1..];
                let hash = candidate.then(|| have.hash_of(content));
                let auto = match hash {
                    Some(h) if named(h) => Auto::Plain,
                    Some(h) if walked.kept.contains(h) => Auto::Reuse,
                    Some(h) => have.auto(h),
                    None => Auto::Plain,
                };
                walked.current = hash.filter(|_| auto != Auto::Plain);
                match (auto, hash) {
                    (Auto::Prepare, Some(h)) => {
                        walked.kept.push(h);
                        walked.prepared += 1;
                        put_frame(out, tag::PARSE, |b| {
                            messages::put_cstr(b, &statements::server_name(h));
                            b.put_slice(content);
                        });
                    }
                    (Auto::Reuse, Some(h)) => {
                        walked.kept.push(h);
                        walked.reused += 1;
                        empty_parse(out);
                    }
                    _ => out.extend_from_slice(frame),
                }
                changed |= auto != Auto::Plain;
            }
            // Checked here, so the rewrite cannot fail.
            tag::BIND if binds_unnamed(body) && walked.current.is_some() => {
                let h = walked.current.unwrap_or_default();
                changed |= rewrite::bind(out, frame, &statements::server_name(h)).is_some();
            }
            tag::DESCRIBE if body == b"S\0" && walked.current.is_some() => {
                let h = walked.current.unwrap_or_default();
                changed |= rewrite::target(out, frame, &statements::server_name(h)).is_some();
            }
            t => {
                if t == tag::CLOSE && body == b"S\0" {
                    // The client's "" is gone; the server closes its own.
                    walked.current = None;
                }
                out.extend_from_slice(frame);
            }
        }
        at = end;
    }
    if changed {
        out.extend_from_slice(&batch[at..]);
        std::mem::swap(batch, out);
    }
    out.clear();
    walked
}

/// A Bind body naming the unnamed statement (`portal\0 \0 …`).
fn binds_unnamed(body: &[u8]) -> bool {
    body.iter()
        .position(|&b| b == 0)
        .is_some_and(|nul| body.get(nul + 1) == Some(&0))
}

/// The end of the whole frame starting at `at`, if there is one.
fn frame_end(batch: &[u8], at: usize) -> Option<usize> {
    let len = messages::u32_at(batch, at.checked_add(1)?)? as usize;
    let end = at.checked_add(1)?.checked_add(len)?;
    (len >= 4 && end <= batch.len()).then_some(end)
}

/// Parse of the unnamed statement with no text: the server answers
/// ParseComplete and has nothing to parse or plan.
fn empty_parse(out: &mut BytesMut) {
    put_frame(out, tag::PARSE, |b| {
        b.put_u8(0);
        b.put_u8(0);
        b.put_u16(0);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::statements::Has;

    fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        put_frame(&mut out, tag, |b| b.put_slice(body));
        out.to_vec()
    }

    /// Parse "" of `sql` with no types, Bind "" to portal "", Describe
    /// portal, Execute, Sync: one `PQexecParams`.
    fn exec_params(sql: &str) -> Vec<Vec<u8>> {
        vec![
            frame(b'P', format!("\0{sql}\0\0\0").as_bytes()),
            frame(b'B', b"\0\0\0\0\0\0\0\0"),
            frame(b'D', b"P\0"),
            frame(b'E', b"\0\0\0\0\0"),
            frame(b'S', b""),
        ]
    }

    /// The batch of `frames`, and the offsets of its unnamed Parses.
    fn batch_of(frames: &[Vec<u8>]) -> (BytesMut, Vec<usize>) {
        let mut b = BytesMut::new();
        let mut parses = Vec::new();
        for f in frames {
            if f[0] == b'P' && f[5] == 0 {
                parses.push(b.len());
            }
            b.extend_from_slice(f);
        }
        (b, parses)
    }

    /// The frames of a batch as (tag, statement name or text) pairs.
    fn names(batch: &[u8]) -> Vec<(char, String)> {
        let mut out = Vec::new();
        let mut at = 0;
        while let Some(end) = frame_end(batch, at) {
            let body = &batch[at + 5..end];
            let name = match batch[at] {
                b'P' => {
                    let (n, sql) = messages::parse_names(body).unwrap();
                    format!("{n}|{sql}")
                }
                b'B' => messages::bind_names(body).unwrap().1.to_owned(),
                b'D' | b'C' => messages::target(body).unwrap().1.to_owned(),
                _ => String::new(),
            };
            out.push((batch[at] as char, name));
            at = end;
        }
        assert_eq!(at, batch.len());
        out
    }

    fn hash_of(sql: &str) -> u64 {
        statements::content_hash(format!("{sql}\0\0\0").as_bytes())
    }

    fn run(
        frames: &[Vec<u8>],
        carry: Option<u64>,
        have: &mut Statements,
    ) -> (Vec<(char, String)>, Walked) {
        let (mut b, parses) = batch_of(frames);
        let walked = apply(&mut b, &mut BytesMut::new(), &parses, carry, have, |_| {
            false
        });
        (names(&b), walked)
    }

    #[test]
    fn a_repeated_text_is_prepared_then_reused() {
        let q = "SELECT $1::int";
        let h = hash_of(q);
        let server = statements::server_name(h).to_string();
        let mut have = Statements::default();
        let frames = exec_params(q);

        let (first, w) = run(&frames, None, &mut have);
        assert_eq!(first[0], ('P', format!("|{q}")), "first time: as it came");
        assert_eq!(first[1], ('B', String::new()));
        assert_eq!((w.current, w.kept.is_empty()), (None, true));

        let (second, w) = run(&frames, None, &mut have);
        assert_eq!(second[0], ('P', format!("{server}|{q}")));
        assert_eq!(second[1], ('B', server.clone()));
        assert_eq!(second[2], ('D', String::new()), "a portal keeps its name");
        assert_eq!(w.current, Some(h));
        assert_eq!(w.kept.iter().collect::<Vec<_>>(), vec![h]);

        // Pending until its request succeeded.
        let (pending, _) = run(&frames, None, &mut have);
        assert_eq!(pending[0], ('P', format!("|{q}")));
        have.settled(h, false);
        let (third, w) = run(&frames, None, &mut have);
        assert_eq!(third[0], ('P', "|".into()), "nothing to parse");
        assert_eq!(third[1], ('B', server.clone()));
        assert_eq!(w.current, Some(h));
        assert_eq!(
            w.kept.iter().collect::<Vec<_>>(),
            vec![h],
            "settled by its request too"
        );
        assert_eq!(have.protocol(h), Has::Yes);
    }

    #[test]
    fn later_uses_follow_the_statement_of_the_last_parse() {
        let (a, b) = ("SELECT 1", "SELECT 2");
        let (ha, hb) = (hash_of(a), hash_of(b));
        let mut have = Statements::default();
        for h in [ha, hb] {
            have.add_protocol(h);
        }
        let parse = |sql: &str| frame(b'P', format!("\0{sql}\0\0\0").as_bytes());
        let bind = frame(b'B', b"\0\0\0\0\0\0\0\0");
        let describe = frame(b'D', b"S\0");
        let close = frame(b'C', b"S\0");
        let frames = [
            bind.clone(), // carried from an earlier batch
            parse(a),
            describe.clone(),
            parse(b),
            bind.clone(),
            close,
            bind.clone(),
        ];
        let (out, w) = run(&frames, Some(hb), &mut have);
        let (sa, sb) = (statements::server_name(ha), statements::server_name(hb));
        assert_eq!(
            out,
            vec![
                ('B', sb.to_string()),
                ('P', "|".into()),
                ('D', sa.to_string()),
                ('P', "|".into()),
                ('B', sb.to_string()),
                ('C', String::new()),
                ('B', String::new()),
            ]
        );
        assert_eq!(w.current, None, "closed by the client");
    }

    #[test]
    fn other_statements_and_other_parses_go_as_they_came() {
        let mut have = Statements::default();
        let kept = "SELECT 1";
        have.add_protocol(hash_of(kept));
        let mut frames = exec_params(kept);
        // The same text again, but not a candidate (say, auto_prepare off):
        // the server parses it, and "" is the server's own again.
        frames.extend(exec_params(kept));
        let (mut b, parses) = batch_of(&frames);
        let before = b.clone();
        let walked = apply(
            &mut b,
            &mut BytesMut::new(),
            &parses[1..],
            None,
            &mut have,
            |_| false,
        );
        assert_eq!(walked.current, Some(hash_of(kept)));
        let out = names(&b);
        assert_eq!(out[0].1, format!("|{kept}"));
        assert_eq!(out[5].1, "|");
        assert_eq!(out[6].1, statements::server_name(hash_of(kept)).to_string());
        assert_ne!(b, before);
        // The other way round: "" ends as the server's own.
        let (mut b, parses) = batch_of(&frames);
        let walked = apply(
            &mut b,
            &mut BytesMut::new(),
            &parses[..1],
            None,
            &mut have,
            |_| false,
        );
        assert_eq!(walked.current, None);
        assert_eq!(names(&b)[6].1, "", "bound to the server's own");

        // Nothing kept: the batch is untouched.
        let mut have = Statements::default();
        let (mut b, parses) = batch_of(&exec_params("SELECT 3"));
        let before = b.clone();
        apply(
            &mut b,
            &mut BytesMut::new(),
            &parses,
            None,
            &mut have,
            |_| false,
        );
        assert_eq!(b, before);

        // Parsed under a client's name in the same batch: plain, though
        // the connection has it (the named Parse recreates it).
        let mut have = Statements::default();
        have.add_protocol(hash_of("SELECT 3"));
        let (mut b, parses) = batch_of(&exec_params("SELECT 3"));
        let before = b.clone();
        let h = hash_of("SELECT 3");
        let w = apply(
            &mut b,
            &mut BytesMut::new(),
            &parses,
            None,
            &mut have,
            |x| x == h,
        );
        assert_eq!((b, w.current), (before, None));
    }

    #[test]
    fn binds_of_the_unnamed_statement() {
        assert!(binds_unnamed(b"p1\0\0\0\x01"));
        assert!(binds_unnamed(b"\0\0"));
        assert!(!binds_unnamed(b"\0s1\0"), "a named statement");
        assert!(!binds_unnamed(b"p1"), "malformed");
        assert!(!binds_unnamed(b"p1\0"), "malformed");
    }

    #[test]
    fn what_is_kept() {
        use crate::classify::{classify, FunctionTable};
        let t = FunctionTable::default();
        for (sql, kept) in [
            ("SELECT abalance FROM pgbench_accounts WHERE aid = $1", true),
            ("UPDATE t SET v = $1 WHERE id = $2", true),
            ("SELECT v FROM t WHERE id = $1 FOR UPDATE", true),
            ("SELECT nextval('s')", true),
            ("/* pgsplit:primary */ SELECT $1::int", true),
            ("SELECT * FROM t", false),
            ("INSERT INTO t VALUES ($1) RETURNING *", false),
            ("SELECT count(*) FROM t", false),
            ("TABLE t", false),
            ("BEGIN", false),
            ("SET work_mem = '8MB'", false),
            ("CREATE TABLE x (a int)", false),
            ("PREPARE p AS SELECT 1", false),
            ("EXECUTE p", false),
            ("LISTEN c", false),
            ("SELECT pg_advisory_lock(1)", false),
            ("CREATE TEMP TABLE x (a int)", false),
        ] {
            assert_eq!(worth(&classify(sql, &t)), kept, "{sql}");
        }
    }
}
