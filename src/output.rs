//! Standard output of the subcommands.
//!
//! A reader may stop early (`pgsplit config-check proxy.toml | head -1`).
//! Rust ignores SIGPIPE, so the next write fails with EPIPE, on which
//! `println!` panics. Here a closed pipe just ends the output: the reader
//! has what it wanted, and the command exits as it would have.

use std::io::{self, Write};
use std::process::ExitCode;

/// Writes `text` to stdout (locked, flushed) and returns `then`. A reader
/// that has gone away is not an error; any other write error is reported
/// on stderr and fails the command.
pub fn print(text: &str, then: ExitCode) -> ExitCode {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => then,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => then,
        Err(e) => {
            eprintln!("pgsplit: writing to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}
