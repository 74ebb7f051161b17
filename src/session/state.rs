//! Session state the proxy tracks so it can be made true on every backend
//! connection the session uses: settings (startup parameters, SET, RESET),
//! named prepared statements (protocol Parse and SQL PREPARE share one
//! namespace, as on the server) and pins.
//!
//! Each backend connection records what it already has
//! (`BackendConn::applied`, `BackendConn::prepared`), whichever session
//! put it there (transaction pooling shares connections without a reset);
//! [`Tracked::plan`] computes the commands that bring it up to date.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::backend::statements::{self, Has};
use crate::backend::BackendConn;
use crate::classify::{Classification, DiscardKind, Pin, SessionCmd};

use super::settings::{quote_ident, quote_literal};
use super::tx_log::TxLog;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub name: String,
    /// The statement that makes it true on a connection.
    pub sql: String,
    /// The plain value, when known, to skip connections that report it already.
    pub value: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Body {
    /// A Parse message, replayed as is.
    Protocol(Bytes),
    /// A `PREPARE name AS …` text.
    Sql(String),
}

#[derive(Debug, Clone)]
pub struct Prepared {
    /// Content hash: the server name of a protocol statement derives from it.
    pub hash: u64,
    pub body: Body,
    pub class: Arc<Classification>,
}

#[derive(Debug, Default)]
pub struct Tracked {
    /// The settings from the StartupMessage: what RESET returns to.
    startup: Vec<Setting>,
    pub settings: Vec<Setting>,
    /// Looked up on every Bind: a fast hasher (foldhash, seeded per
    /// process) instead of SipHash; the names are the client's own.
    pub statements: HashMap<String, Prepared, foldhash::fast::RandomState>,
    /// What keeps the session on its primary connection (each reason
    /// ends on its own: UNLISTEN *, pg_advisory_unlock_all(), CLOSE ALL,
    /// DISCARD TEMP; DISCARD ALL ends them all).
    pub pins: Vec<Pin>,
    /// Settings changed inside the open transaction, with its savepoints:
    /// recorded when it commits, forgotten when it rolls back.
    pub in_tx: TxLog,
    /// Session mode: state was changed that cannot be replayed (an untracked
    /// `set_config`), so the connections are reset when the session ends.
    pub untracked: bool,
    /// Bumped on every change to settings, so an unchanged session skips the
    /// per-request comparison.
    pub generation: u64,
}

/// Commands that bring one connection up to date, run before the request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Settings, run together as one simple query.
    pub settings: Vec<String>,
    /// Statement names to drop first, with protocol Close (which drops
    /// protocol and SQL prepared statements alike and, unlike DEALLOCATE,
    /// is no error for a name that does not exist, even in a transaction).
    pub drops: Vec<String>,
    /// SQL `PREPARE` texts to replay.
    pub prepares: Vec<String>,
    /// Parse messages to replay (followed by Sync when sent).
    pub parses: Vec<Bytes>,
    /// What the connection has once the plan ran.
    pub added: Vec<u64>,
    pub added_sql: Vec<(String, u64)>,
    pub removed: Vec<u64>,
    pub removed_sql: Vec<String>,
}

/// A statement a request is about to prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fresh {
    /// A protocol Parse of this content hash.
    Protocol(u64),
    /// A SQL `PREPARE` of this name.
    Sql(String),
}

impl Plan {
    fn drop_protocol(&mut self, hash: u64) {
        self.drops.push(statements::server_name(hash).to_string());
        self.removed.push(hash);
    }

    fn drop_sql(&mut self, name: &str) {
        self.drops.push(name.to_owned());
        self.removed_sql.push(name.to_owned());
    }

    pub fn is_empty(&self) -> bool {
        self.settings.is_empty()
            && self.drops.is_empty()
            && self.prepares.is_empty()
            && self.parses.is_empty()
    }
}

impl Tracked {
    pub fn new(startup: &[(String, String)]) -> Tracked {
        let startup: Vec<Setting> = startup
            .iter()
            .map(|(k, v)| Setting {
                name: k.clone(),
                // set_config takes the value as the server reads a startup
                // setting (a list such as search_path stays a list).
                sql: format!(
                    "SELECT pg_catalog.set_config({}, {}, false)",
                    quote_literal(k),
                    quote_literal(v)
                ),
                value: Some(v.clone()),
            })
            .collect();
        Tracked {
            settings: startup.clone(),
            startup,
            ..Tracked::default()
        }
    }

    pub fn pinned(&self) -> bool {
        !self.pins.is_empty()
    }

    pub fn read_only_default(&self) -> bool {
        self.settings
            .iter()
            .find(|s| s.name == "default_transaction_read_only")
            .and_then(|s| s.value.as_deref())
            .is_some_and(is_on)
    }

    fn put(&mut self, s: Setting) {
        self.settings.retain(|o| o.name != s.name);
        self.settings.push(s);
        self.generation += 1;
    }

    /// Records a session command that succeeded on `conn`, and what `conn`
    /// now has. Returns true when other connections the session holds must
    /// be given back (DISCARD ALL cleared state they still carry).
    pub fn record(&mut self, cmd: &SessionCmd, conn: &mut BackendConn) -> bool {
        match cmd {
            SessionCmd::Set { local: true, .. } => {}
            SessionCmd::Set { name, value, .. } => {
                let Some(sql) = cmd.replay_sql() else {
                    return false;
                };
                let plain = value.trim_matches('\'').to_owned();
                self.put(Setting {
                    name: name.clone(),
                    sql: sql.clone(),
                    value: Some(plain),
                });
                set_applied(conn, name, &sql);
            }
            SessionCmd::SetConfig { name, value } => {
                let Some(sql) = cmd.replay_sql() else {
                    return false;
                };
                self.put(Setting {
                    name: name.clone(),
                    sql: sql.clone(),
                    value: Some(value.clone()),
                });
                set_applied(conn, name, &sql);
            }
            SessionCmd::SessionCharacteristics {
                read_only: Some(ro),
            } => {
                let sql = cmd.replay_sql().unwrap_or_default();
                let name = "default_transaction_read_only";
                let value = if *ro { "on" } else { "off" };
                self.put(Setting {
                    name: name.into(),
                    sql: sql.clone(),
                    value: Some(value.into()),
                });
                set_applied(conn, name, &sql);
            }
            SessionCmd::Reset { name } => {
                // Back to the startup value, which the server does not know
                // for a pooled connection: drop it from `conn` so the next
                // plan re-applies it.
                self.settings.retain(|s| &s.name != name);
                if let Some(s) = self.startup.iter().find(|s| &s.name == name) {
                    self.settings.push(s.clone());
                }
                conn.applied.retain(|(n, _)| n != name);
                self.generation += 1;
            }
            SessionCmd::ResetAll => {
                self.settings = self.startup.clone();
                conn.applied.clear();
                self.generation += 1;
            }
            SessionCmd::Discard(DiscardKind::Temp) => {
                self.pins.retain(|p| *p != Pin::TempTable);
            }
            SessionCmd::Discard(DiscardKind::All) => {
                self.settings = self.startup.clone();
                self.statements.clear();
                self.pins.clear();
                self.untracked = false;
                conn.applied.clear();
                conn.prepared.clear();
                self.generation += 1;
                return true;
            }
            _ => {}
        }
        false
    }

    /// A named statement prepared on `conn` under `hash` (recorded when
    /// sent: a request that fails marks it uncertain on the connection).
    pub fn prepared(
        &mut self,
        name: &str,
        hash: u64,
        body: Body,
        class: Arc<Classification>,
        conn: &mut BackendConn,
    ) {
        match &body {
            Body::Protocol(_) => conn.prepared.add_sent(hash),
            Body::Sql(_) => conn.prepared.add_sql(name, hash),
        }
        self.statements
            .insert(name.to_owned(), Prepared { hash, body, class });
    }

    /// A protocol Close of `name`: forgotten by the session; the server
    /// statement stays in the connection's cache for whoever shares it.
    pub fn closed(&mut self, name: &str) {
        self.statements.remove(name);
    }

    /// SQL `DEALLOCATE name` (`None`: ALL) sent to `conn` (a protocol
    /// statement's name rewritten to its server name).
    pub fn deallocated(&mut self, name: Option<&str>, conn: &mut BackendConn) {
        match name {
            Some(n) => match self.statements.remove(n) {
                Some(Prepared {
                    body: Body::Protocol(_),
                    hash,
                    ..
                }) => conn.prepared.remove_protocol(hash),
                _ => conn.prepared.remove_sql(n),
            },
            None => {
                self.statements.clear();
                conn.prepared.clear();
            }
        }
    }

    pub fn class_of(&self, name: &str) -> Option<Arc<Classification>> {
        self.statements.get(name).map(|p| p.class.clone())
    }

    /// The server-side name of a protocol statement the session prepared.
    pub fn server_name(&self, name: &str) -> Option<statements::ServerName> {
        match self.statements.get(name) {
            Some(Prepared {
                body: Body::Protocol(_),
                hash,
                ..
            }) => Some(statements::server_name(*hash)),
            _ => None,
        }
    }

    /// True when `conn` has every statement in `needs` for sure, so a
    /// request binding only known statements skips building a [`Plan`]
    /// (the settings are the caller's to check).
    pub fn has_all(&self, conn: &mut BackendConn, needs: &[String]) -> bool {
        needs.iter().all(|name| match self.statements.get(name) {
            Some(Prepared {
                body: Body::Protocol(_),
                hash,
                ..
            }) => conn.prepared.protocol(*hash) == Has::Yes,
            Some(Prepared {
                body: Body::Sql(_),
                hash,
                ..
            }) => conn.prepared.sql(name) == Some(*hash),
            None => false,
        })
    }

    /// What `conn` lacks: settings that differ (the connection may have
    /// been used by other sessions: what it has is in `conn.applied`),
    /// statements in `needs` it does not have, statements about to be
    /// prepared again by the request (`fresh`) that it still has, SQL names
    /// the session does not know (another session's), and the least
    /// recently used statements beyond the cache bound.
    pub fn plan(
        &self,
        conn: &mut BackendConn,
        settings_current: bool,
        needs: &[String],
        fresh: &[Fresh],
        tidy: super::sync::Tidy,
    ) -> Plan {
        let mut plan = Plan::default();
        if !settings_current {
            for s in &self.settings {
                let has = conn
                    .applied
                    .iter()
                    .any(|(n, q)| *n == s.name && *q == s.sql);
                let reported = !conn.applied.iter().any(|(n, _)| *n == s.name)
                    && s.value.is_some()
                    && conn.param(&s.name) == s.value.as_deref();
                if !has && !reported {
                    plan.settings.push(s.sql.clone());
                }
            }
            for (n, _) in &conn.applied {
                if !self.settings.iter().any(|s| &s.name == n) {
                    plan.settings.push(format!("RESET {}", quote_ident(n)));
                }
            }
        }
        let have = &mut conn.prepared;
        for f in fresh {
            match f {
                Fresh::Protocol(h) if have.protocol(*h) != Has::No => {
                    plan.drop_protocol(*h);
                }
                Fresh::Sql(n) if have.sql(n).is_some() => plan.drop_sql(n),
                _ => {}
            }
        }
        let mut keep = Vec::new();
        for name in needs {
            let Some(p) = self.statements.get(name) else {
                if have.sql(name).is_some() {
                    plan.drop_sql(name);
                }
                continue;
            };
            match &p.body {
                Body::Protocol(parse) => {
                    if keep.contains(&p.hash) {
                        continue;
                    }
                    keep.push(p.hash);
                    match have.protocol(p.hash) {
                        Has::Yes => {}
                        Has::Maybe => {
                            plan.drop_protocol(p.hash);
                            plan.parses.push(parse.clone());
                        }
                        Has::No => plan.parses.push(parse.clone()),
                    }
                    plan.added.push(p.hash);
                }
                Body::Sql(text) => {
                    if plan.added_sql.iter().any(|(n, _)| n == name) {
                        continue;
                    }
                    match have.sql(name) {
                        Some(h) if h == p.hash => {}
                        Some(_) => {
                            plan.drop_sql(name);
                            plan.prepares.push(text.clone());
                        }
                        None => plan.prepares.push(text.clone()),
                    }
                    plan.added_sql.push((name.clone(), p.hash));
                }
            }
        }
        // Statements a failed request left uncertain, not needed now: a
        // kept unnamed one may no longer run (`session::auto_prepare`).
        if tidy.allowed {
            for h in have.uncertain() {
                if !plan.removed.contains(&h) && !keep.contains(&h) && tidy.except != Some(h) {
                    plan.drop_protocol(h);
                }
            }
        }
        for h in have.over(statements::LIMIT, &keep) {
            plan.drop_protocol(h);
        }
        if plan.parses.is_empty() && plan.prepares.is_empty() && plan.drops.is_empty() {
            // Nothing to run for statements: no bookkeeping either.
            plan.added.clear();
            plan.added_sql.clear();
        }
        plan
    }

    /// Marks `conn` as having what a successful `plan` gave it.
    pub fn planned(&self, conn: &mut BackendConn, plan: &Plan) {
        conn.applied = self
            .settings
            .iter()
            .map(|s| (s.name.clone(), s.sql.clone()))
            .collect();
        for h in &plan.removed {
            conn.prepared.remove_protocol(*h);
        }
        for n in &plan.removed_sql {
            conn.prepared.remove_sql(n);
        }
        for h in &plan.added {
            conn.prepared.add_protocol(*h);
        }
        for (n, h) in &plan.added_sql {
            conn.prepared.add_sql(n, *h);
        }
    }
}

fn set_applied(conn: &mut BackendConn, name: &str, sql: &str) {
    conn.applied.retain(|(n, _)| n != name);
    conn.applied.push((name.to_owned(), sql.to_owned()));
}

fn is_on(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "on" | "true" | "yes" | "1" | "t"
    )
}
