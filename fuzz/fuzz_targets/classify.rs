//! The classifier on arbitrary text: sqlparser, the fast path, the shape
//! key and the set_config/pin scans. Nothing may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgsplit::classify::{classify, shape, FunctionTable};

fuzz_target!(|data: &[u8]| {
    // Long inputs only slow the parser down; the proxy caps query size too.
    if data.len() > 4096 {
        return;
    }
    let sql = String::from_utf8_lossy(data);
    let functions = FunctionTable::builtin();
    let _ = classify(&sql, &functions);
    let _ = shape::shape(&sql);
});
