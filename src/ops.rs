//! The running daemon's signals, and the admin-endpoint commands
//! (`check`, `status`).
//!
//! SIGHUP reloads the config file. SIGTERM or SIGINT drains (stop accepting,
//! let transactions finish up to `shutdown_timeout`, 57P01 to idle clients)
//! and exits 0; a second one exits at once.

use std::process::ExitCode;

use pgsplit::admin::client;
use serde_json::Value;
use tokio::signal::unix::{signal, Signal, SignalKind};

pub async fn run(config: pgsplit::config::Config) -> ExitCode {
    let (mut term, mut int, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(i), Ok(h)) => (t, i, h),
        _ => {
            eprintln!("pgsplit: cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    let proxy = match pgsplit::start(config).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                // Errors are logged by the reloader; the old config stays.
                let _ = proxy.reload().await;
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("shutting down gracefully (a second signal exits at once)");
    tokio::select! {
        done = proxy.drain() => {
            if !done {
                tracing::warn!("some sessions were still open at shutdown_timeout");
            }
            ExitCode::SUCCESS
        }
        _ = second(&mut term, &mut int) => {
            tracing::warn!("second signal: exiting now");
            std::process::exit(1);
        }
    }
}

async fn second(term: &mut Signal, int: &mut Signal) {
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// `pgsplit check`: exit 0 iff GET /health answers 200.
pub async fn check(admin: &str) -> ExitCode {
    match client::get(admin, "/health", None).await {
        Ok(r) if r.status == 200 => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("pgsplit check: {admin}/health answered {}", r.status);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("pgsplit check: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `pgsplit status`: GET /status, printed as tables.
pub async fn status(admin: &str, token: Option<&str>) -> ExitCode {
    let reply = match client::get(admin, "/status", token).await {
        Ok(r) if r.status == 200 => r,
        Ok(r) => {
            eprintln!(
                "pgsplit status: {admin}/status answered {}: {}",
                r.status,
                r.body.trim()
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("pgsplit status: {e}");
            return ExitCode::FAILURE;
        }
    };
    match serde_json::from_str::<Value>(&reply.body) {
        Ok(v) => crate::output::print(&render(&v), ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("pgsplit status: not JSON: {e}");
            ExitCode::FAILURE
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn render(v: &Value) -> String {
    let mut out = String::new();
    let clients = &v["clients"];
    out.push_str(&format!(
        "primary: {}   clients: {}/{}   draining: {}\n\n",
        text(&v["primary"]),
        text(&clients["active"]),
        text(&clients["max"]),
        text(&v["draining"]),
    ));
    out.push_str(&format!(
        "{:<24} {:<8} {:<4} {:<6} {}\n",
        "BACKEND", "ROLE", "UP", "WEIGHT", "ERROR"
    ));
    for b in v["backends"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<24} {:<8} {:<4} {:<6} {}\n",
            text(&b["addr"]),
            text(&b["role"]),
            if b["up"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
            text(&b["weight"]),
            b.get("error").map(text).unwrap_or_default(),
        ));
    }
    let pools = v["pools"].as_array().cloned().unwrap_or_default();
    if !pools.is_empty() {
        out.push_str(&format!(
            "\n{:<24} {:<12} {:<12} {:>4} {:>4} {:>7} {:>4}\n",
            "POOL BACKEND", "USER", "DATABASE", "SIZE", "IDLE", "WAITING", "MAX"
        ));
        for p in &pools {
            out.push_str(&format!(
                "{:<24} {:<12} {:<12} {:>4} {:>4} {:>7} {:>4}\n",
                text(&p["backend"]),
                text(&p["user"]),
                text(&p["database"]),
                text(&p["size"]),
                text(&p["idle"]),
                text(&p["waiting"]),
                text(&p["max"]),
            ));
        }
    }
    out
}
