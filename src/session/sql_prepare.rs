//! SQL-level `PREPARE` / `EXECUTE` / `DEALLOCATE` sent through the extended
//! protocol. psycopg sends every statement that way (Parse, Bind, Execute),
//! so `cur.execute("PREPARE s1 AS …")` reaches the proxy as a Parse. Such a
//! statement takes effect when it is bound and executed, not when parsed
//! (psycopg with `prepare=True` parses it under its own name in one batch
//! and binds it in later ones), so the session's bookkeeping follows the
//! Bind: a `PREPARE` is recorded on the connection the batch runs on, an
//! `EXECUTE` needs its statement there, a `DEALLOCATE` forgets it.

use std::sync::Arc;

use crate::backend::statements;
use crate::classify::{Class, Classification, SessionCmd};

use super::state::{Body, Fresh, Tracked};

/// A bound statement that works on SQL-level prepared statements.
#[derive(Debug, Clone)]
pub(super) enum SqlLevel {
    Prepare {
        name: String,
        text: String,
        inner: Arc<Classification>,
    },
    Execute(String),
    /// `None`: DEALLOCATE ALL.
    Deallocate(Option<String>),
}

impl SqlLevel {
    /// What a statement with this class and text does to SQL-level names.
    pub fn of(class: &Classification, text: Option<&str>) -> Option<SqlLevel> {
        if let Some(name) = &class.execute {
            return Some(SqlLevel::Execute(name.clone()));
        }
        match &class.class {
            Class::Session(SessionCmd::Prepare { name, statement }) => Some(SqlLevel::Prepare {
                name: name.clone(),
                text: text?.to_owned(),
                inner: Arc::new(statement.as_ref().clone()),
            }),
            Class::Session(SessionCmd::Deallocate { name }) => {
                Some(SqlLevel::Deallocate(name.clone()))
            }
            _ => None,
        }
    }

    /// Whether a statement's text must be kept to record it later.
    pub fn wants_text(class: &Classification) -> bool {
        class.execute.is_some()
            || matches!(
                class.class,
                Class::Session(SessionCmd::Prepare { .. } | SessionCmd::Deallocate { .. })
            )
    }

    /// The statement name the connection must have (or must not have from
    /// another session) before the batch runs.
    pub fn needs(&self) -> Option<&str> {
        match self {
            SqlLevel::Execute(n) | SqlLevel::Deallocate(Some(n)) => Some(n),
            _ => None,
        }
    }

    /// A name the batch prepares again: dropped first where it lingers.
    pub fn fresh(&self) -> Option<Fresh> {
        match self {
            SqlLevel::Prepare { name, .. } => Some(Fresh::Sql(name.clone())),
            _ => None,
        }
    }

    /// Records what the statement did, once it was sent to `conn`.
    pub fn record(self, tracked: &mut Tracked, conn: &mut crate::backend::BackendConn) {
        match self {
            SqlLevel::Prepare { name, text, inner } => {
                let hash = statements::content_hash(text.as_bytes());
                tracked.prepared(&name, hash, Body::Sql(text), inner, conn);
            }
            SqlLevel::Deallocate(name) => tracked.deallocated(name.as_deref(), conn),
            SqlLevel::Execute(_) => {}
        }
    }
}

/// A `DEALLOCATE name` of a protocol statement (psycopg deallocates its
/// own `_pg3_N` so) rewritten to the statement's server name.
pub(super) fn deallocate_text(class: &Classification, tracked: &Tracked) -> Option<String> {
    match &class.class {
        Class::Session(SessionCmd::Deallocate { name: Some(name) }) => {
            let server = tracked.server_name(name)?;
            Some(format!(
                "DEALLOCATE {}",
                super::settings::quote_ident(&server)
            ))
        }
        _ => None,
    }
}
