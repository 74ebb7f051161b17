//! Table-driven tests for the classifier. Each table is checked as a whole
//! and every mismatch is reported, so one run shows all regressions.

mod cache;
mod corpus;
mod functions;
mod reads;
mod session_tx;
mod writes;

use std::sync::OnceLock;

use super::{classify, Classification, FunctionTable};

/// The built-in table, built once for all tests.
fn builtin() -> &'static FunctionTable {
    static TABLE: OnceLock<FunctionTable> = OnceLock::new();
    TABLE.get_or_init(FunctionTable::builtin)
}

fn c(sql: &str) -> Classification {
    classify(sql, builtin())
}

/// Runs `check` over every case and panics listing all failures.
fn run_table<T>(cases: &[T], check: impl Fn(&T) -> Option<String>) {
    let failures: Vec<String> = cases.iter().filter_map(check).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
