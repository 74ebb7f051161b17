//! The deep scan of a statement's tree for anything that makes a query
//! unsafe on a standby: row locks, SELECT INTO, data-modifying CTEs and
//! calls to functions that are not read-safe.
//!
//! It is built on sqlparser's derived `Visit` so every expression position
//! (select list, WHERE, FROM, ORDER BY, window, FILTER, VALUES, nested
//! subqueries, ...) is covered without a hand-written walker that could miss
//! a new AST field.

use std::borrow::Cow;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Ident, ObjectName, ObjectNamePart, Query, Select, Statement, TableFactor, Visit, Visitor,
};

use super::builtin;
use super::functions::{FnVerdict, FunctionTable};
use super::types::{Pin, WriteReason};

/// What the scan found. `reason` is the first write cause met; `pin` the
/// first pin. Scanning does not stop at the first write, so a pin that
/// appears later in the tree is still reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Scan {
    pub reason: Option<WriteReason>,
    pub pin: Option<Pin>,
    /// `pg_advisory_unlock_all()` is called: every session lock is released.
    pub unlock_all: bool,
    /// `lastval()` or `currval()` is called.
    pub last_value: bool,
}

/// Scans any AST node.
pub(super) fn scan<V: Visit + ?Sized>(node: &V, functions: &FunctionTable) -> Scan {
    let mut walker = Walker {
        functions,
        found: Scan::default(),
    };
    // The walker never breaks, so the ControlFlow result carries nothing.
    let _ = node.visit(&mut walker);
    walker.found
}

struct Walker<'a> {
    functions: &'a FunctionTable,
    found: Scan,
}

impl Walker<'_> {
    fn write(&mut self, reason: WriteReason) {
        self.found.reason.get_or_insert(reason);
    }

    fn pin(&mut self, pin: Pin) {
        self.found.pin.get_or_insert(pin);
    }

    fn call(&mut self, name: &ObjectName) {
        let Some((schema, func)) = function_name(name) else {
            self.write(WriteReason::UnknownFunction);
            return;
        };
        let schema = schema.as_deref();
        if matches!(schema, None | Some("pg_catalog")) && builtin::is_advisory_lock_fn(&func) {
            self.write(WriteReason::Locking);
            if builtin::SESSION_ADVISORY_LOCKS.contains(&func.as_ref()) {
                self.pin(Pin::AdvisoryLock);
            }
            self.found.unlock_all |= func == "pg_advisory_unlock_all";
            return;
        }
        if matches!(schema, None | Some("pg_catalog")) && builtin::LAST_VALUE.contains(&&*func) {
            self.found.last_value = true;
        }
        match self.functions.verdict(schema, &func) {
            FnVerdict::Read => {}
            FnVerdict::Write => self.write(WriteReason::VolatileFunction),
            FnVerdict::Unknown => self.write(WriteReason::UnknownFunction),
        }
    }
}

impl Visitor for Walker<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        // FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE take row locks,
        // which need a writable transaction.
        if !query.locks.is_empty() {
            self.write(WriteReason::Locking);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        if let Some(into) = &select.into {
            // SELECT INTO creates a table.
            self.write(WriteReason::Ddl);
            if into.temporary {
                self.pin(Pin::TempTable);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        // Reached for statements nested in a query: data-modifying CTEs.
        match statement {
            Statement::Query(_) => {}
            Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_)
            | Statement::Merge(_) => self.write(WriteReason::Dml),
            _ => self.write(WriteReason::Other),
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            // `FROM f(1)` parses as a table with arguments.
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => self.call(name),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = expr {
            if super::set_config::sets_session_value(f) {
                self.pin(Pin::Setting);
            }
            self.call(&f.name);
        }
        ControlFlow::Continue(())
    }
}

/// Splits a function name into case-folded (schema, name); a leading
/// database qualifier is ignored. `None` when a part is not a plain
/// identifier, which the caller treats as an unknown function.
fn function_name(name: &ObjectName) -> Option<(Option<Cow<'_, str>>, Cow<'_, str>)> {
    let mut parts = name.0.iter().rev();
    let func = ident_part(parts.next()?)?;
    let schema = match parts.next() {
        Some(p) => Some(ident_part(p)?),
        None => None,
    };
    Some((schema, func))
}

fn ident_part(part: &ObjectNamePart) -> Option<Cow<'_, str>> {
    match part {
        ObjectNamePart::Identifier(ident) => Some(fold_ident(ident)),
        ObjectNamePart::Function(_) => None,
    }
}

/// PostgreSQL identifier case folding: unquoted names fold to lower case,
/// quoted ones are taken verbatim. Borrows when nothing changes.
pub(super) fn fold_ident(ident: &Ident) -> Cow<'_, str> {
    if ident.quote_style.is_some() || !ident.value.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Borrowed(ident.value.as_str())
    } else {
        Cow::Owned(ident.value.to_ascii_lowercase())
    }
}

/// Case-folded dotted name, e.g. `myapp.user_id`.
pub(super) fn fold_object_name(name: &ObjectName) -> String {
    let mut out = String::new();
    for (i, part) in name.0.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        match part {
            ObjectNamePart::Identifier(ident) => out.push_str(&fold_ident(ident)),
            ObjectNamePart::Function(f) => out.push_str(&f.to_string()),
        }
    }
    out
}
