//! Classification of one parsed statement.
//!
//! This is a whitelist: only the statement kinds matched explicitly below
//! can come out as a read, session or transaction command. Every other kind,
//! including ones a future sqlparser adds, falls through to a write.

use sqlparser::ast::{
    CloseCursor, CopySource, CopyTarget, DeclareType, DiscardObject, Expr, ObjectName, Statement,
    UtilityOption,
};

use super::lexer;
use super::session;
use super::set_config;
use super::types::{Class, Classification, DiscardKind, Pin, SessionCmd, TxCmd, WriteReason};
use super::walk::{fold_ident, fold_object_name, scan, Scan};
use super::FunctionTable;

/// Classifies one statement (hint and multi-statement handling are the caller's).
pub(super) fn classify_statement(stmt: &Statement, functions: &FunctionTable) -> Classification {
    match stmt {
        Statement::Query(query) => match set_config::tracked(query) {
            Some(cmd) => Classification::of(Class::Session(cmd)),
            None => from_scan(scan(query.as_ref(), functions), Class::Read),
        },

        Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_)
        | Statement::Merge(_) => write_with_scan(WriteReason::Dml, stmt, functions),

        Statement::Explain {
            analyze,
            options,
            statement,
            ..
        } => explain(
            *analyze || analyze_option(options.as_deref()),
            statement,
            functions,
        ),

        Statement::ShowVariable { .. } => Classification::of(Class::Read),

        Statement::Set(set) => Classification::of(session::set(set)),
        Statement::Reset(reset) => Classification::of(session::reset(reset)),
        Statement::Discard { object_type } => {
            Classification::of(Class::Session(SessionCmd::Discard(match object_type {
                DiscardObject::ALL => DiscardKind::All,
                DiscardObject::PLANS => DiscardKind::Plans,
                DiscardObject::SEQUENCES => DiscardKind::Sequences,
                DiscardObject::TEMP => DiscardKind::Temp,
            })))
        }
        Statement::Prepare {
            name, statement, ..
        } => Classification::of(Class::Session(SessionCmd::Prepare {
            name: fold_ident(name).into_owned(),
            statement: Box::new(classify_statement(statement, functions)),
        })),
        Statement::Execute {
            name: Some(name),
            parameters,
            using,
            into,
            immediate: false,
            ..
        } if using.is_empty() && into.is_empty() => execute(name, parameters, functions),
        Statement::Deallocate { name, .. } => {
            // `DEALLOCATE ALL` arrives as a plain identifier named ALL.
            let all = name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all");
            let name = (!all).then(|| fold_ident(name).into_owned());
            Classification::of(Class::Session(SessionCmd::Deallocate { name }))
        }

        Statement::StartTransaction {
            modes, statements, ..
        } if statements.is_empty() => Classification::of(Class::Transaction(TxCmd::Begin {
            read_only: session::read_only(modes),
        })),
        Statement::Commit { chain, .. } => {
            Classification::of(Class::Transaction(TxCmd::Commit { chain: *chain }))
        }
        Statement::Rollback { savepoint, .. } => {
            Classification::of(Class::Transaction(match savepoint {
                Some(name) => TxCmd::RollbackTo {
                    name: fold_ident(name).into_owned(),
                },
                None => TxCmd::Rollback,
            }))
        }
        Statement::Savepoint { name } => Classification::of(Class::Transaction(TxCmd::Savepoint {
            name: fold_ident(name).into_owned(),
        })),
        Statement::ReleaseSavepoint { name } => {
            Classification::of(Class::Transaction(TxCmd::Release {
                name: fold_ident(name).into_owned(),
            }))
        }

        Statement::Declare { stmts, .. } => {
            let mut out = Classification::of(Class::Read);
            for decl in stmts {
                let decl_class = match (&decl.declare_type, &decl.for_query) {
                    (Some(DeclareType::Cursor), Some(query)) => {
                        let c = from_scan(scan(query.as_ref(), functions), Class::Read);
                        // A holdable cursor outlives its transaction, so the
                        // session must stay where it was declared.
                        if decl.hold == Some(true) {
                            let reason = match c.class {
                                Class::Write(r) => r,
                                _ => WriteReason::Other,
                            };
                            Classification::write(reason).pinned(Pin::HoldCursor)
                        } else {
                            c
                        }
                    }
                    _ => Classification::write(WriteReason::Other),
                };
                out = merge_write(out, decl_class);
            }
            out
        }
        // Cursors only exist inside the transaction (or, WITH HOLD, the
        // pinned session) that declared them, and the proxy keeps those on
        // one backend, so moving through a cursor is a read.
        Statement::Fetch { into: None, .. } => Classification::of(Class::Read),
        Statement::Close {
            cursor: CloseCursor::All,
        } => Classification {
            unpins: vec![Pin::HoldCursor],
            ..Classification::of(Class::Read)
        },
        Statement::Close {
            cursor: CloseCursor::Specific { .. },
        } => Classification::of(Class::Read),

        Statement::Copy {
            source,
            to: true,
            target: CopyTarget::Stdout,
            ..
        } => match source {
            CopySource::Table { .. } => Classification::of(Class::Read),
            CopySource::Query(query) => from_scan(scan(query.as_ref(), functions), Class::Read),
        },
        Statement::Copy { .. } => Classification::write(WriteReason::Copy),

        Statement::LISTEN { .. } => Classification::write(WriteReason::Notify).pinned(Pin::Listen),
        Statement::UNLISTEN { channel } if channel.value == "*" => Classification {
            unpins: vec![Pin::Listen],
            ..Classification::write(WriteReason::Notify)
        },
        Statement::UNLISTEN { .. } | Statement::NOTIFY { .. } => {
            Classification::write(WriteReason::Notify)
        }
        Statement::Call(_) => write_with_scan(WriteReason::Procedural, stmt, functions),
        Statement::Lock(_) | Statement::LockTables { .. } => {
            Classification::write(WriteReason::Locking)
        }
        Statement::Vacuum(_)
        | Statement::Analyze(_)
        | Statement::RefreshMaterializedView(_)
        | Statement::OptimizeTable { .. } => Classification::write(WriteReason::Maintenance),
        Statement::Grant(_)
        | Statement::Revoke(_)
        | Statement::GrantRole(_)
        | Statement::RevokeRole(_)
        | Statement::Deny(_)
        | Statement::CreateRole(_)
        | Statement::AlterRole { .. }
        | Statement::CreateUser(_)
        | Statement::AlterUser(_)
        | Statement::AlterDefaultPrivileges(_) => Classification::write(WriteReason::Dcl),

        Statement::CreateTable(ct) => temp_ddl(ct.temporary),
        Statement::CreateView(cv) => temp_ddl(cv.temporary),
        Statement::CreateSequence { temporary, .. } => temp_ddl(*temporary),

        // Loads a library into this backend only; nothing to replay reliably.
        Statement::Load { .. } => Classification::of(Class::Session(SessionCmd::Other)),

        other => Classification::write(keyword_reason(&other.to_string())),
    }
}

/// The write reason implied by a statement's first keyword; used for kinds
/// the match above does not name, and for text sqlparser cannot parse.
pub(super) fn keyword_reason(text: &str) -> WriteReason {
    const KEYWORDS: &[(&str, WriteReason)] = &[
        ("insert", WriteReason::Dml),
        ("update", WriteReason::Dml),
        ("delete", WriteReason::Dml),
        ("merge", WriteReason::Dml),
        ("create", WriteReason::Ddl),
        ("alter", WriteReason::Ddl),
        ("drop", WriteReason::Ddl),
        ("truncate", WriteReason::Ddl),
        ("comment", WriteReason::Ddl),
        ("security", WriteReason::Ddl),
        ("import", WriteReason::Ddl),
        ("grant", WriteReason::Dcl),
        ("revoke", WriteReason::Dcl),
        ("reassign", WriteReason::Dcl),
        ("vacuum", WriteReason::Maintenance),
        ("analyze", WriteReason::Maintenance),
        ("analyse", WriteReason::Maintenance),
        ("cluster", WriteReason::Maintenance),
        ("reindex", WriteReason::Maintenance),
        ("checkpoint", WriteReason::Maintenance),
        ("refresh", WriteReason::Maintenance),
        ("lock", WriteReason::Locking),
        ("call", WriteReason::Procedural),
        ("do", WriteReason::Procedural),
        ("listen", WriteReason::Notify),
        ("unlisten", WriteReason::Notify),
        ("notify", WriteReason::Notify),
        ("copy", WriteReason::Copy),
    ];
    let Some(word) = lexer::words(lexer::prescan(text).body).next() else {
        return WriteReason::Other;
    };
    KEYWORDS
        .iter()
        .find(|(k, _)| word.eq_ignore_ascii_case(k))
        .map_or(WriteReason::Other, |(_, r)| *r)
}

fn explain(analyze: bool, inner: &Statement, functions: &FunctionTable) -> Classification {
    if !analyze {
        // Plain EXPLAIN plans without executing, and PostgreSQL skips the
        // read-only check for it; only plannable statements are let through.
        return match inner {
            Statement::Query(_)
            | Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_)
            | Statement::Merge(_) => Classification::of(Class::Read),
            _ => Classification::write(WriteReason::Other),
        };
    }
    // EXPLAIN ANALYZE executes the statement, so it is exactly as much a
    // write as the statement itself.
    let c = classify_statement(inner, functions);
    match c.class {
        Class::Read | Class::Write(_) => c,
        _ => Classification::write(WriteReason::Other),
    }
}

/// True when the parenthesised EXPLAIN options turn ANALYZE on. Anything but
/// an explicit false/off/0 counts as on, which errs towards the primary.
fn analyze_option(options: Option<&[UtilityOption]>) -> bool {
    options.unwrap_or_default().iter().any(|opt| {
        let name = &opt.name.value;
        let is_analyze =
            name.eq_ignore_ascii_case("analyze") || name.eq_ignore_ascii_case("analyse");
        is_analyze && !is_false(opt.arg.as_ref())
    })
}

fn is_false(arg: Option<&Expr>) -> bool {
    let Some(arg) = arg else { return false };
    let text = arg.to_string();
    let text = text.trim_matches('\'');
    ["false", "off", "0", "no"]
        .iter()
        .any(|f| text.eq_ignore_ascii_case(f))
}

fn execute(name: &ObjectName, parameters: &[Expr], functions: &FunctionTable) -> Classification {
    // A parameter that is itself a write makes the EXECUTE a write whatever
    // the prepared statement is, so do not offer the lookup then.
    for param in parameters {
        let found = scan(param, functions);
        if let Some(reason) = found.reason {
            return Classification {
                pin: found.pin,
                last_value: found.last_value,
                ..Classification::write(reason)
            };
        }
    }
    Classification {
        execute: Some(fold_object_name(name)),
        ..Classification::write(WriteReason::Execute)
    }
}

fn from_scan(found: Scan, otherwise: Class) -> Classification {
    Classification {
        pin: found.pin,
        unpins: unpins(found),
        last_value: found.last_value,
        ..Classification::of(found.reason.map_or(otherwise, Class::Write))
    }
}

fn unpins(found: Scan) -> Vec<Pin> {
    if found.unlock_all {
        vec![Pin::AdvisoryLock]
    } else {
        Vec::new()
    }
}

/// A write of a known kind; the tree is still scanned for pins (an
/// `UPDATE ... SET x = pg_advisory_lock(1)` pins like a SELECT would).
fn write_with_scan(
    reason: WriteReason,
    stmt: &Statement,
    functions: &FunctionTable,
) -> Classification {
    let found = scan(stmt, functions);
    Classification {
        pin: found.pin,
        unpins: unpins(found),
        last_value: found.last_value,
        ..Classification::write(reason)
    }
}

fn temp_ddl(temporary: bool) -> Classification {
    let c = Classification::write(WriteReason::Ddl);
    if temporary {
        c.pinned(Pin::TempTable)
    } else {
        c
    }
}

/// Combines parts of one statement (e.g. several DECLAREs): any write wins.
fn merge_write(acc: Classification, next: Classification) -> Classification {
    let mut pins: Vec<Pin> = Vec::new();
    for p in acc.pins().chain(next.pins()) {
        if !pins.contains(&p) {
            pins.push(p);
        }
    }
    let pin = pins.first().copied();
    let more_pins = pins.get(1..).unwrap_or_default().to_vec();
    let mut unpins = acc.unpins;
    unpins.extend(next.unpins);
    let class = match (acc.class, next.class) {
        (Class::Write(r), _) | (_, Class::Write(r)) => Class::Write(r),
        (a, _) => a,
    };
    Classification {
        pin,
        unpins,
        more_pins,
        last_value: acc.last_value || next.last_value,
        ..Classification::of(class)
    }
}
