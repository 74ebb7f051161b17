//! The pure topology transition: previous snapshot + probe results → next.

use super::probe::ProbeResult;
use super::{BackendState, Role, Topology};

/// Computes the next snapshot. The primary is the reachable backend that is
/// not in recovery; with more than one such backend there is no primary
/// (fail closed: writes are refused rather than split).
pub fn next(prev: &Topology, results: &[ProbeResult]) -> Topology {
    let backends: Vec<BackendState> = prev
        .backends
        .iter()
        .zip(results)
        .map(|(b, r)| match r {
            Ok(o) => BackendState {
                role: if o.in_recovery {
                    Role::Replica
                } else {
                    Role::Primary
                },
                up: true,
                error: None,
                ..b.clone()
            },
            Err(e) => BackendState {
                up: false,
                error: Some(e.clone()),
                ..b.clone()
            },
        })
        .collect();
    let mut writable = backends
        .iter()
        .enumerate()
        .filter(|(_, b)| b.up && b.role == Role::Primary)
        .map(|(i, _)| i);
    let primary = match (writable.next(), writable.next()) {
        (Some(i), None) => Some(i),
        _ => None,
    };
    Topology { backends, primary }
}

#[cfg(test)]
mod tests {
    use super::super::probe::Observation;
    use super::*;
    use std::sync::Arc;

    fn topo(n: usize) -> Topology {
        Topology {
            backends: (0..n)
                .map(|i| BackendState {
                    addr: Arc::from(format!("b{i}:5432")),
                    weight: 1,
                    role: Role::Unknown,
                    up: false,
                    error: None,
                })
                .collect(),
            primary: None,
        }
    }

    fn ok(in_recovery: bool) -> ProbeResult {
        Ok(Observation { in_recovery })
    }

    #[test]
    fn table() {
        let down = || Err("refused".to_string());
        let cases: Vec<(Vec<ProbeResult>, Option<usize>)> = vec![
            (vec![ok(false), ok(true)], Some(0)),
            (vec![ok(true), ok(false)], Some(1)),
            (vec![down(), ok(true)], None),
            (vec![ok(false), ok(false)], None),
            (vec![down(), down()], None),
            (vec![ok(true), ok(true), ok(false)], Some(2)),
        ];
        for (results, want) in cases {
            let t = next(&topo(results.len()), &results);
            assert_eq!(t.primary, want, "{results:?}");
        }
    }

    #[test]
    fn down_backend_keeps_its_last_role() {
        let t = next(&topo(2), &[ok(false), ok(true)]);
        let t = next(&t, &[Err("x".into()), ok(true)]);
        assert_eq!(t.backends[0].role, Role::Primary);
        assert!(!t.backends[0].up);
        assert_eq!(t.primary, None);
    }
}
