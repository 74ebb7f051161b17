//! Mapping of SET / RESET / transaction-mode statements onto the
//! session and transaction commands the proxy tracks.

use sqlparser::ast::{
    ContextModifier, Expr, Reset, ResetStatement, Set, SetSessionAuthorizationParamKind,
    TransactionAccessMode, TransactionMode,
};

use super::types::{Class, SessionCmd, TxCmd};
use super::walk::{fold_ident, fold_object_name};

/// Classifies a parsed `SET ...` statement.
pub(super) fn set(stmt: &Set) -> Class {
    match stmt {
        Set::SingleAssignment {
            scope,
            variable,
            values,
            ..
        } => session_set(
            fold_object_name(variable),
            join_values(values),
            is_local(scope.as_ref()),
        ),
        Set::SetTimeZone { local, value } => {
            // `SET TIME ZONE LOCAL` means the default; `timezone = LOCAL`
            // would name a zone called "local", so normalise it.
            let value = match value {
                Expr::Identifier(i) if i.quote_style.is_none() => {
                    if i.value.eq_ignore_ascii_case("local") {
                        "DEFAULT".to_owned()
                    } else {
                        i.value.to_ascii_uppercase()
                    }
                }
                other => other.to_string(),
            };
            session_set("timezone".to_owned(), value, *local)
        }
        Set::SetRole {
            context_modifier,
            role_name,
        } => {
            let value = role_name
                .as_ref()
                .map_or_else(|| "NONE".to_owned(), |r| r.to_string());
            session_set(
                "role".to_owned(),
                value,
                is_local(context_modifier.as_ref()),
            )
        }
        Set::SetSessionAuthorization(param) => {
            let value = match &param.kind {
                SetSessionAuthorizationParamKind::Default => "DEFAULT".to_owned(),
                SetSessionAuthorizationParamKind::User(u) => u.to_string(),
            };
            let local = matches!(param.scope, ContextModifier::Local);
            session_set("session_authorization".to_owned(), value, local)
        }
        // SET NAMES is the SQL-standard spelling of client_encoding.
        Set::SetNames { charset_name, .. } => session_set(
            "client_encoding".to_owned(),
            charset_name.to_string(),
            false,
        ),
        Set::SetNamesDefault {} => {
            session_set("client_encoding".to_owned(), "DEFAULT".to_owned(), false)
        }
        Set::SetTransaction {
            modes,
            session: true,
            ..
        } => Class::Session(SessionCmd::SessionCharacteristics {
            read_only: read_only(modes),
        }),
        Set::SetTransaction { modes, .. } => Class::Transaction(TxCmd::SetTransaction {
            read_only: read_only(modes),
        }),
        // Other dialects' forms: session-level, but nothing to model.
        Set::ParenthesizedAssignments { .. }
        | Set::MultipleAssignments { .. }
        | Set::SetSessionParam(_) => Class::Session(SessionCmd::Other),
    }
}

/// Classifies a parsed `RESET ...` statement.
pub(super) fn reset(stmt: &ResetStatement) -> Class {
    Class::Session(match &stmt.reset {
        Reset::ALL => SessionCmd::ResetAll,
        Reset::SessionAuthorization => SessionCmd::Reset {
            name: "session_authorization".to_owned(),
        },
        Reset::ConfigurationParameter(name) => SessionCmd::Reset {
            name: fold_object_name(name),
        },
    })
}

/// The access mode of a list of transaction modes; the last one wins, as in
/// PostgreSQL.
pub(super) fn read_only(modes: &[TransactionMode]) -> Option<bool> {
    modes.iter().rev().find_map(|m| match m {
        TransactionMode::AccessMode(TransactionAccessMode::ReadOnly) => Some(true),
        TransactionMode::AccessMode(TransactionAccessMode::ReadWrite) => Some(false),
        TransactionMode::IsolationLevel(_) => None,
    })
}

fn is_local(scope: Option<&ContextModifier>) -> bool {
    matches!(scope, Some(ContextModifier::Local))
}

fn session_set(name: String, value: String, local: bool) -> Class {
    Class::Session(SessionCmd::Set { name, value, local })
}

/// Renders SET values back to SQL. Bare words (`TO DEFAULT`, `TO on`) are
/// kept as written; identifiers that needed quotes keep them.
fn join_values(values: &[Expr]) -> String {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match v {
            Expr::Identifier(ident) if ident.quote_style.is_none() => {
                out.push_str(&fold_ident(ident))
            }
            other => out.push_str(&other.to_string()),
        }
    }
    out
}

impl SessionCmd {
    /// The SQL that re-creates this piece of session state on another
    /// backend, or `None` when there is nothing to replay (or it cannot be
    /// replayed, like `SessionCmd::Other`). `SET LOCAL` is replayed as
    /// written; it only matters inside the transaction it was issued in.
    pub fn replay_sql(&self) -> Option<String> {
        match self {
            SessionCmd::Set { name, value, local } => {
                let scope = if *local { "LOCAL " } else { "" };
                Some(match name.as_str() {
                    "timezone" => format!("SET {scope}TIME ZONE {value}"),
                    "role" => format!("SET {scope}ROLE {value}"),
                    "session_authorization" => {
                        format!("SET {scope}SESSION AUTHORIZATION {value}")
                    }
                    _ => format!("SET {scope}{} = {value}", quote_dotted(name)),
                })
            }
            // Replayed through the function, which reads the value as the
            // client gave it (an empty search_path stays empty).
            SessionCmd::SetConfig { name, value } => Some(format!(
                "SELECT pg_catalog.set_config('{}', '{}', false)",
                name.replace('\'', "''"),
                value.replace('\'', "''")
            )),
            SessionCmd::Reset { name } => Some(format!("RESET {}", quote_dotted(name))),
            SessionCmd::ResetAll => Some("RESET ALL".to_owned()),
            SessionCmd::SessionCharacteristics { read_only } => read_only.map(|ro| {
                let mode = if ro { "READ ONLY" } else { "READ WRITE" };
                format!("SET SESSION CHARACTERISTICS AS TRANSACTION {mode}")
            }),
            SessionCmd::Discard(_)
            | SessionCmd::Prepare { .. }
            | SessionCmd::Deallocate { .. }
            | SessionCmd::Other => None,
        }
    }
}

/// Quotes each dot-separated part that would not survive as a bare word.
fn quote_dotted(name: &str) -> String {
    let parts: Vec<String> = name
        .split('.')
        .map(|p| {
            let bare = p.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if bare {
                p.to_owned()
            } else {
                format!("\"{}\"", p.replace('"', "\"\""))
            }
        })
        .collect();
    parts.join(".")
}
