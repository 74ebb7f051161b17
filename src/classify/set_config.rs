//! `set_config(name, value, is_local)`: the function form of `SET`.
//!
//! A statement that is nothing but `SELECT [pg_catalog.]set_config('name',
//! 'value', false)` (pg_dump and many ORMs send exactly this) is a session
//! setting the proxy tracks and replays like `SET`. Any other call that may
//! set a session value (arguments that are not literals, or the call buried
//! in a bigger query) cannot be tracked, so it pins the session instead.

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Query, SelectItem, SetExpr,
    Value,
};

use super::types::SessionCmd;
use super::walk::fold_object_name;

/// The tracked form, when `query` is a lone literal `set_config(…, false)`.
pub(super) fn tracked(query: &Query) -> Option<SessionCmd> {
    if query.with.is_some() || query.order_by.is_some() || query.limit_clause.is_some() {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if !select.from.is_empty() || select.selection.is_some() || select.projection.len() != 1 {
        return None;
    }
    let expr = match &select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return None,
    };
    let Expr::Function(f) = expr else {
        return None;
    };
    if !is_set_config(f) {
        return None;
    }
    match literal_args(f)?.as_slice() {
        [Value::SingleQuotedString(name), Value::SingleQuotedString(value), local]
            if is_false(local) =>
        {
            Some(SessionCmd::SetConfig {
                name: name.to_ascii_lowercase(),
                value: value.clone(),
            })
        }
        _ => None,
    }
}

/// A call to `set_config` that may change a session value: anything but a
/// literal `true` (transaction-local) as its third argument.
pub(super) fn sets_session_value(f: &Function) -> bool {
    if !is_set_config(f) {
        return false;
    }
    let local_true = literal_args(f).is_some_and(|args| {
        args.get(2)
            .is_some_and(|v| matches!(v, Value::Boolean(true)) || is_text(v, &["true", "t", "on"]))
    });
    !local_true
}

fn is_set_config(f: &Function) -> bool {
    let name = fold_object_name(&f.name);
    name == "set_config" || name == "pg_catalog.set_config"
}

/// The arguments when every one is a plain literal.
fn literal_args(f: &Function) -> Option<Vec<Value>> {
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v))) => Some(v.value.clone()),
            _ => None,
        })
        .collect()
}

fn is_false(v: &Value) -> bool {
    matches!(v, Value::Boolean(false)) || is_text(v, &["false", "f", "off"])
}

fn is_text(v: &Value, words: &[&str]) -> bool {
    matches!(v, Value::SingleQuotedString(s) if words.iter().any(|w| s.eq_ignore_ascii_case(w)))
}
