//! The snapshot as a text table for `pgsplit status`.

use super::probe::format_lsn;
use super::{Role, Topology};
use crate::config::Config;

/// Probes every configured backend once, as the proxy would at start-up
/// (with its state file, if any), without running a proxy.
pub async fn probe_once(config: &Config) -> Topology {
    let mut probes = super::probes_for(config);
    super::discover(config, &mut probes).await
}

/// One line per backend: address, role, up/down, timeline, lag, and why it
/// is fenced or down; then the write verdict.
pub fn render(t: &Topology) -> String {
    let mut rows = vec![[
        "backend".to_string(),
        "role".into(),
        "state".into(),
        "timeline".into(),
        "wal".into(),
        "lag".into(),
        "note".into(),
    ]];
    for (i, b) in t.backends.iter().enumerate() {
        let role = match b.role {
            Role::Unknown => "unknown",
            Role::Primary if t.primary == Some(i) => "primary",
            Role::Primary => "primary?",
            Role::Replica => "replica",
            Role::StalePrimary => "stale-primary",
        };
        let state = match (b.up, &b.fenced) {
            (_, Some(_)) => "fenced",
            (true, None) => "up",
            (false, None) => "down",
        };
        let lag = match (b.lag_bytes, b.lag_seconds) {
            (Some(bytes), Some(s)) => format!("{bytes} B / {s:.1} s"),
            (Some(bytes), None) => format!("{bytes} B"),
            (None, Some(s)) => format!("{s:.1} s"),
            (None, None) => "-".into(),
        };
        let wal = b
            .current_lsn
            .or(b.replay_lsn)
            .map(format_lsn)
            .unwrap_or_else(|| "-".into());
        let note = b
            .fenced
            .clone()
            .or_else(|| b.error.clone())
            .or_else(|| {
                (b.role == Role::Replica).then(|| {
                    format!(
                        "wal receiver: {}",
                        b.wal_receiver.as_deref().unwrap_or("none")
                    )
                })
            })
            .unwrap_or_default();
        rows.push([
            b.addr.to_string(),
            role.into(),
            state.into(),
            b.timeline.map_or("-".into(), |tl| tl.to_string()),
            wal,
            lag,
            note,
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&match (t.primary(), &t.write_refusal) {
        (_, Some(r)) => format!("writes: REFUSED: {r}\n"),
        (Some(p), None) => format!("writes: to {}\n", p.addr),
        (None, None) => "writes: no primary is available\n".into(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::super::BackendState;
    use super::*;

    #[test]
    fn table_shows_roles_fencing_and_lag() {
        let t = Topology {
            backends: vec![
                BackendState {
                    role: Role::StalePrimary,
                    timeline: Some(1),
                    fenced: Some("stale primary: timeline 1".into()),
                    ..BackendState::new("a:5432", 1)
                },
                BackendState {
                    role: Role::Primary,
                    up: true,
                    timeline: Some(2),
                    current_lsn: Some(0x3000000),
                    ..BackendState::new("b:5432", 1)
                },
                BackendState {
                    role: Role::Replica,
                    up: true,
                    timeline: Some(2),
                    lag_bytes: Some(128),
                    lag_seconds: Some(0.0),
                    ..BackendState::new("c:5432", 1)
                },
            ],
            primary: Some(1),
            ..Topology::default()
        };
        let s = render(&t);
        assert!(s.contains("stale-primary  fenced"), "{s}");
        assert!(s.contains("0/3000000"), "{s}");
        assert!(s.contains("128 B / 0.0 s"), "{s}");
        assert!(s.contains("writes: to b:5432"), "{s}");
    }
}
