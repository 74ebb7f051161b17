//! The pure topology transition: previous snapshot + probe results → next.
//!
//! The primary rule: the reachable, not-in-recovery backend on the highest
//! timeline is the primary. Not in recovery on an older timeline: a stale
//! primary, fenced. Two not-in-recovery backends on the newest timeline, or
//! backends of different clusters: no primary and `write_refusal` (fail
//! closed). A replica on an older timeline does not follow the newest primary
//! and is fenced from reads. Up/down is damped (`failures`/`successes`), except that a
//! backend reporting itself primary on a newer timeline than any known is
//! adopted at once, so a promotion is followed within one probe.

use super::probe::{Observation, ProbeResult};
use super::state::Persisted;
use super::{BackendState, Role, Topology};

/// Hysteresis thresholds (`[health] failures`, `successes`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub failures: u32,
    pub successes: u32,
    /// A replica further behind than this gets no reads…
    pub max_lag_bytes: Option<u64>,
    pub max_lag_seconds: Option<f64>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            failures: 3,
            successes: 2,
            max_lag_bytes: None,
            max_lag_seconds: None,
        }
    }
}

/// …until it is back within half of the limit (hysteresis, so a replica
/// hovering at the limit does not flap).
pub fn lagging(
    was: bool,
    lag_bytes: Option<u64>,
    lag_seconds: Option<f64>,
    policy: &Policy,
) -> bool {
    let over = |lag: Option<f64>, limit: Option<f64>| match (lag, limit) {
        (Some(l), Some(max)) => {
            if was {
                l > max / 2.0
            } else {
                l > max
            }
        }
        _ => false,
    };
    over(
        lag_bytes.map(|b| b as f64),
        policy.max_lag_bytes.map(|b| b as f64),
    ) || over(lag_seconds, policy.max_lag_seconds)
}

/// Computes the next snapshot.
pub fn next(
    prev: &Topology,
    results: &[ProbeResult],
    policy: &Policy,
    persisted: &Persisted,
) -> Topology {
    let mut backends: Vec<BackendState> = prev
        .backends
        .iter()
        .zip(results)
        .map(|(b, r)| observe(b, r, policy))
        .collect();

    let mut ids: Vec<u64> = backends
        .iter()
        .filter_map(|b| b.system_identifier)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let timeline = backends
        .iter()
        .filter_map(|b| b.timeline)
        .chain(ids.iter().filter_map(|&id| persisted.highest(id)))
        .max();
    let newest = timeline.unwrap_or(0);

    // Not in recovery on an older timeline: stale, whether reachable or not.
    for b in backends.iter_mut().filter(|b| b.claims_primary()) {
        let tl = b.timeline.unwrap_or(0);
        if tl < newest {
            b.role = Role::StalePrimary;
            b.fenced = Some(format!(
                "stale primary: not in recovery on timeline {tl}, but timeline {newest} is newer; \
                 rejoin it as a replica with pg_rewind (pgsplit rejoin)"
            ));
        } else {
            b.role = Role::Primary;
        }
    }
    // A replica on an older timeline does not follow the newest primary
    // (diverged, or still pointed at the old one): its data is frozen.
    for b in backends.iter_mut().filter(|b| b.role == Role::Replica) {
        if let Some(tl) = b.timeline.filter(|&tl| tl < newest) {
            b.fenced = Some(format!(
                "replica on timeline {tl}, behind timeline {newest}: it does not follow the \
                 newest primary; point its primary_conninfo there or rejoin it"
            ));
        }
    }
    let claimants: Vec<usize> = (0..backends.len())
        .filter(|&i| {
            let b = &backends[i];
            b.role == Role::Primary && (b.up || b.responsive)
        })
        .collect();

    let mut write_refusal = None;
    let mut primary = None;
    if ids.len() > 1 {
        let list: Vec<String> = backends
            .iter()
            .filter_map(|b| b.system_identifier.map(|id| format!("{} is {id}", b.addr)))
            .collect();
        write_refusal = Some(format!(
            "backends belong to different clusters (system_identifier: {}); \
             fix [[backends]] or the servers",
            list.join(", ")
        ));
    } else if claimants.len() > 1 {
        let names: Vec<&str> = claimants.iter().map(|&i| &*backends[i].addr).collect();
        write_refusal = Some(format!(
            "{} are all primaries on timeline {newest}; an operator must demote all but one",
            names.join(" and ")
        ));
    } else if let Some(&i) = claimants.first() {
        let newer_than_known = prev.timeline.is_none_or(|t| newest > t);
        if !backends[i].up && backends[i].responsive && newer_than_known {
            backends[i].up = true;
        }
        if backends[i].up {
            primary = Some(i);
        }
    }

    let primary_lsn = primary.and_then(|i| backends[i].current_lsn);
    for (i, b) in backends.iter_mut().enumerate() {
        b.lag_bytes = match (b.role, primary_lsn, b.replay_lsn) {
            (Role::Replica, Some(p), Some(r)) if b.responsive => Some(p.saturating_sub(r)),
            _ => None,
        };
        let was = prev.backends.get(i).is_some_and(|o| o.lagging);
        b.lagging = b.role == Role::Replica && lagging(was, b.lag_bytes, b.lag_seconds, policy);
    }
    Topology {
        backends,
        primary,
        write_refusal,
        timeline,
    }
}

/// One backend after one probe: counters, up/down with hysteresis, and the
/// observation (kept from before when the probe failed).
fn observe(prev: &BackendState, result: &ProbeResult, policy: &Policy) -> BackendState {
    match result {
        Ok(o) => {
            let successes = prev.successes.saturating_add(1);
            // Never seen before (start-up): nothing to damp.
            let first = prev.role == Role::Unknown;
            BackendState {
                role: if o.in_recovery {
                    Role::Replica
                } else {
                    Role::Primary
                },
                up: prev.up || first || successes >= policy.successes,
                error: None,
                fenced: None,
                failures: 0,
                successes,
                responsive: true,
                ..with_observation(prev, o)
            }
        }
        Err(e) => {
            let failures = prev.failures.saturating_add(1);
            BackendState {
                up: prev.up && failures < policy.failures,
                error: Some(e.clone()),
                fenced: None,
                failures,
                successes: 0,
                responsive: false,
                lag_seconds: None,
                ..prev.clone()
            }
        }
    }
}

fn with_observation(prev: &BackendState, o: &Observation) -> BackendState {
    BackendState {
        timeline: o.timeline.or(prev.timeline),
        system_identifier: o.system_identifier.or(prev.system_identifier),
        current_lsn: o.current_lsn,
        receive_lsn: o.receive_lsn,
        replay_lsn: o.replay_lsn,
        lag_seconds: o.lag_seconds,
        wal_receiver: o.wal_receiver.clone(),
        ..prev.clone()
    }
}

#[cfg(test)]
#[path = "transition_tests.rs"]
mod tests;
