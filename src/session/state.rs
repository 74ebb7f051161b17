//! Session state the proxy tracks so it can be made true on every backend
//! connection the session uses: settings (startup parameters, SET, RESET),
//! named prepared statements (protocol Parse and SQL PREPARE share one
//! namespace, as on the server) and pins.
//!
//! Each backend connection records what it already has
//! (`BackendConn::applied`, `BackendConn::prepared`); [`Tracked::plan`]
//! computes the commands that bring it up to date.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::backend::BackendConn;
use crate::classify::{Classification, DiscardKind, Pin, SessionCmd};

use super::settings::{quote_ident, quote_literal};

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
    pub version: u64,
    pub body: Body,
    pub class: Arc<Classification>,
}

#[derive(Debug, Default)]
pub struct Tracked {
    /// The settings from the StartupMessage: what RESET returns to.
    startup: Vec<Setting>,
    pub settings: Vec<Setting>,
    pub statements: HashMap<String, Prepared>,
    pub pin: Option<Pin>,
    next_version: u64,
    /// Bumped on every change to settings, so an unchanged session skips the
    /// per-request comparison.
    pub generation: u64,
}

/// Commands that bring one connection up to date, run before the request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Settings, run together as one simple query.
    pub settings: Vec<String>,
    /// Stale names to drop first: `DEALLOCATE` texts, which drop protocol
    /// and SQL prepared statements alike (errors ignored).
    pub drops: Vec<String>,
    /// SQL `PREPARE` texts to replay.
    pub prepares: Vec<String>,
    /// Parse messages to replay (followed by Sync when sent).
    pub parses: Vec<Bytes>,
}

impl Plan {
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
            SessionCmd::Discard(DiscardKind::All) => {
                self.settings = self.startup.clone();
                self.statements.clear();
                self.pin = None;
                conn.applied.clear();
                conn.prepared.clear();
                self.generation += 1;
                return true;
            }
            _ => {}
        }
        false
    }

    /// A named statement prepared on `conn` (recorded when sent: a client
    /// that saw it fail will not use it, and a stale copy is closed before
    /// the name is prepared again).
    pub fn prepared(
        &mut self,
        name: &str,
        body: Body,
        class: Arc<Classification>,
        conn: &mut BackendConn,
    ) {
        self.next_version += 1;
        let version = self.next_version;
        self.statements.insert(
            name.to_owned(),
            Prepared {
                version,
                body,
                class,
            },
        );
        conn.prepared.insert(name.to_owned(), version);
    }

    /// Close / DEALLOCATE of a name (`None`: all) sent to `conn`.
    pub fn deallocated(&mut self, name: Option<&str>, conn: &mut BackendConn) {
        match name {
            Some(n) => {
                self.statements.remove(n);
                conn.prepared.remove(n);
            }
            None => {
                self.statements.clear();
                conn.prepared.clear();
            }
        }
    }

    pub fn class_of(&self, name: &str) -> Option<Arc<Classification>> {
        self.statements.get(name).map(|p| p.class.clone())
    }

    /// What `conn` lacks: settings that differ, statements in `needs` it
    /// does not have at the current version, and names in `fresh` (about to
    /// be prepared again by the request) that it still has.
    pub fn plan(
        &self,
        conn: &BackendConn,
        settings_current: bool,
        needs: &[String],
        fresh: &[String],
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
        for name in fresh {
            if conn.prepared.contains_key(name) {
                drop_stale(&mut plan, name);
            }
        }
        for name in needs {
            let Some(p) = self.statements.get(name) else {
                continue;
            };
            if conn.prepared.get(name) == Some(&p.version) {
                continue;
            }
            if conn.prepared.contains_key(name) {
                drop_stale(&mut plan, name);
            }
            match &p.body {
                Body::Sql(text) => plan.prepares.push(text.clone()),
                Body::Protocol(parse) => plan.parses.push(parse.clone()),
            }
        }
        plan
    }

    /// Marks `conn` as having what a successful `plan` gave it.
    pub fn planned(&self, conn: &mut BackendConn, needs: &[String], fresh: &[String]) {
        conn.applied = self
            .settings
            .iter()
            .map(|s| (s.name.clone(), s.sql.clone()))
            .collect();
        for name in fresh {
            conn.prepared.remove(name);
        }
        for name in needs {
            if let Some(p) = self.statements.get(name) {
                conn.prepared.insert(name.clone(), p.version);
            }
        }
    }
}

fn drop_stale(plan: &mut Plan, name: &str) {
    plan.drops.push(format!("DEALLOCATE {}", quote_ident(name)));
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
