//! Extended-protocol messages gathered into a batch up to Sync (or
//! Flush): what the batch needs (named statements, their classes) and the
//! messages as they go to the backend, with client statement names
//! rewritten to the proxy's server names. Named statements are classified
//! once, at Parse, and looked up by name at Bind. Sending the batch is
//! `request::flush_batch`.

use std::sync::Arc;

use bytes::{Buf, Bytes};

use super::auto_prepare;
use super::relay::Relay;
use super::request::{effect_of, merge};
use super::rewrite;
use super::sql_prepare::{self, SqlLevel};
use super::state::{Body, Fresh, Prepared};
use super::{Effect, Session};
use crate::backend::statements;
use crate::classify::{Classification, WriteReason};
use crate::protocol::{messages, tag, ProtocolError};

/// What the extended-protocol messages gathered so far need.
#[derive(Default)]
pub(super) struct BatchInfo {
    pub(super) classes: Vec<Arc<Classification>>,
    /// Named statements bound or described but not parsed in this batch.
    pub(super) needs: Vec<String>,
    /// Named statements parsed in this batch: client name, content hash,
    /// the Parse as sent (under the server name), class.
    pub(super) parses: Vec<(String, u64, Bytes, Arc<Classification>)>,
    pub(super) closes: Vec<String>,
    /// Class of the unnamed statement parsed in this batch, and its text
    /// when it is an SQL-level PREPARE/EXECUTE/DEALLOCATE.
    pub(super) unnamed: Option<Arc<Classification>>,
    pub(super) unnamed_text: Option<String>,
    /// SQL-level PREPARE/EXECUTE/DEALLOCATE bound in this batch.
    pub(super) sql: Vec<SqlLevel>,
    /// The batch uses the unnamed statement without parsing it.
    pub(super) unnamed_used: bool,
    /// Offsets in the batch of the unnamed Parses worth keeping on the
    /// server (`auto_prepare`).
    pub(super) autos: Vec<usize>,
}

impl BatchInfo {
    /// Empty again, keeping the allocations for the next batch.
    pub(super) fn clear(&mut self) {
        // Destructured whole, so a field added later cannot be forgotten.
        let BatchInfo {
            classes,
            needs,
            parses,
            closes,
            unnamed,
            unnamed_text,
            sql,
            unnamed_used,
            autos,
        } = self;
        classes.clear();
        needs.clear();
        parses.clear();
        closes.clear();
        *unnamed = None;
        *unnamed_text = None;
        sql.clear();
        *unnamed_used = false;
        autos.clear();
    }

    pub(super) fn fresh(&self) -> Vec<Fresh> {
        self.parses
            .iter()
            .map(|(_, h, _, _)| Fresh::Protocol(*h))
            .chain(self.sql.iter().filter_map(SqlLevel::fresh))
            .collect()
    }

    /// A bound statement that prepares, executes or deallocates by SQL.
    fn bound(&mut self, class: &Classification, text: Option<&str>) {
        if let Some(s) = SqlLevel::of(class, text) {
            if let Some(n) = s.needs() {
                self.needs.push(n.to_owned());
            }
            self.sql.push(s);
        }
    }

    /// The server name of a statement parsed earlier in this batch.
    fn parsed(&self, name: &str) -> Option<statements::ServerName> {
        self.parses
            .iter()
            .rev()
            .find(|(n, ..)| n == name)
            .map(|(_, h, ..)| statements::server_name(*h))
    }
}

impl Session {
    /// Adds the extended-protocol message at the front of the client's
    /// buffer (`end` bytes) to the batch, noting what it needs.
    pub(super) fn gather(
        &mut self,
        st: &mut Relay,
        t: u8,
        end: usize,
    ) -> Result<(), ProtocolError> {
        // Read in place (copied into the batch once) instead of split off.
        let gathered = self.gather_frame(st, t, &self.client.rbuf[..end]);
        self.client.rbuf.advance(end);
        gathered
    }

    fn gather_frame(&self, st: &mut Relay, t: u8, frame: &[u8]) -> Result<(), ProtocolError> {
        let body = &frame[5..];
        let malformed = |what| ProtocolError::Malformed(what);
        let info = &mut st.info;
        match t {
            tag::PARSE => {
                let (name, sql) = messages::parse_names(body).ok_or(malformed("Parse"))?;
                let (class, hit) = self.catalog.classify_parse(sql);
                self.shared.metrics.classify_cache(hit);
                // An SQL EXECUTE is routed as the statement it runs.
                let routed = class
                    .execute
                    .as_deref()
                    .and_then(|n| self.tracked.class_of(n));
                info.classes.push(routed.unwrap_or_else(|| class.clone()));
                let text = SqlLevel::wants_text(&class).then(|| sql.to_owned());
                let name = name.to_owned();
                let rewritten;
                let frame = match sql_prepare::deallocate_text(&class, &self.tracked) {
                    Some(sql) => {
                        rewritten = rewrite::parse_sql(frame, &sql).ok_or(malformed("Parse"))?;
                        &rewritten[..]
                    }
                    None => frame,
                };
                if name.is_empty() {
                    if st.auto_prepare && text.is_none() && auto_prepare::worth(&class) {
                        info.autos.push(st.batch.len());
                    }
                    info.unnamed = Some(class);
                    info.unnamed_text = text;
                    st.batch.extend_from_slice(frame);
                    return Ok(());
                } else {
                    let content = rewrite::parse_content(frame).ok_or(malformed("Parse"))?;
                    let hash = statements::content_hash(content);
                    let parse = rewrite::parse(frame, &statements::server_name(hash))
                        .ok_or(malformed("Parse"))?
                        .freeze();
                    st.batch.extend_from_slice(&parse);
                    info.parses.push((name, hash, parse, class));
                    merge(
                        &mut st.effect,
                        Some(Box::new(Effect {
                            parsed: vec![hash],
                            ..Effect::default()
                        })),
                        st.executes,
                    );
                    return Ok(());
                }
            }
            tag::BIND | tag::DESCRIBE => {
                let stmt = if t == tag::BIND {
                    messages::bind_names(body).ok_or(malformed("Bind"))?.1
                } else {
                    match messages::target(body).ok_or(malformed("Describe"))? {
                        (b'S', name) => name,
                        _ => "\0",
                    }
                };
                if t == tag::BIND {
                    self.bound(st, stmt);
                }
                let info = &mut st.info;
                if stmt.is_empty() {
                    if info.unnamed.is_none() {
                        info.unnamed_used = true;
                    }
                } else if stmt != "\0" {
                    let server = match info.parsed(stmt) {
                        Some(server) => Some(server),
                        None => {
                            let class = self.tracked.class_of(stmt).unwrap_or_else(|| {
                                Arc::new(Classification::write(WriteReason::Other))
                            });
                            info.classes.push(class);
                            info.needs.push(stmt.to_owned());
                            self.tracked.server_name(stmt)
                        }
                    };
                    // A name the session does not know goes as is: the
                    // server answers that it does not exist.
                    if let Some(server) = server {
                        let out = if t == tag::BIND {
                            rewrite::bind(&mut st.batch, frame, &server)
                        } else {
                            rewrite::target(&mut st.batch, frame, &server)
                        };
                        return out.ok_or(malformed("Bind"));
                    }
                }
            }
            tag::CLOSE => {
                if let (b'S', name) = messages::target(body).ok_or(malformed("Close"))? {
                    if !name.is_empty() {
                        // The server statement stays cached for others.
                        info.closes.push(name.to_owned());
                        return rewrite::target(&mut st.batch, frame, statements::CLOSED)
                            .ok_or(malformed("Close"));
                    }
                }
            }
            tag::EXECUTE => st.executes += 1,
            _ => {}
        }
        st.batch.extend_from_slice(frame);
        Ok(())
    }

    /// Notes what `stmt` (the statement a Bind names, parsed in this
    /// batch or an earlier one) changes when it runs: session commands,
    /// savepoints, transaction ends and pins count when a statement is
    /// bound to run, not when it is parsed, so a statement prepared once
    /// and run again later counts each time, and one never run does not.
    /// Also notes an SQL-level PREPARE/EXECUTE/DEALLOCATE it runs.
    fn bound(&self, st: &mut Relay, stmt: &str) {
        let info = &mut st.info;
        if stmt.is_empty() {
            let (class, text) = match (&info.unnamed, &st.last_unnamed) {
                (Some(c), _) => (c.clone(), info.unnamed_text.clone()),
                (None, Some(u)) => (u.class.clone(), None),
                (None, None) => return,
            };
            info.bound(&class, text.as_deref());
            merge(&mut st.effect, effect_of(&class), st.executes);
            return;
        }
        let parsed = info.parses.iter().rev().find(|(n, ..)| n == stmt);
        let (class, parse) = match parsed {
            Some((_, _, parse, class)) => (class.clone(), parse.clone()),
            None => match self.tracked.statements.get(stmt) {
                Some(Prepared {
                    body: Body::Protocol(parse),
                    class,
                    ..
                }) => (class.clone(), parse.clone()),
                _ => return,
            },
        };
        merge(&mut st.effect, effect_of(&class), st.executes);
        if SqlLevel::wants_text(&class) {
            let text = parse
                .get(5..)
                .and_then(messages::parse_names)
                .map(|(_, t)| t);
            info.bound(&class, text);
        }
    }
}
