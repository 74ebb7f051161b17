//! Follows the primary through topology snapshots: counts failovers and
//! tells sessions when the backend their requests may be in flight on has
//! stopped being the primary. A request sent to a primary that was cut off
//! can sit in the network and be delivered when the link heals, after
//! another backend took over: sessions reset those connections so it never
//! lands there (split-brain by a write already on its way).

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Topology, TopologyRx};
use crate::admin::metrics::Metrics;

/// What a new snapshot means for the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    None,
    /// Another backend is the primary now.
    Failover,
    /// Writes are refused (two primaries, …): no backend is the primary.
    Refused,
}

/// The primary last seen (kept while none is known, so a primary that
/// goes away and comes back is no failover) and whether writes were refused.
#[derive(Debug, Default)]
pub struct PrimaryWatch {
    last: Option<Arc<str>>,
    refused: bool,
}

impl PrimaryWatch {
    pub fn new(t: &Topology) -> PrimaryWatch {
        PrimaryWatch {
            last: t.primary().map(|b| b.addr.clone()),
            refused: t.write_refusal.is_some(),
        }
    }

    pub fn observe(&mut self, t: &Topology) -> Change {
        let was_refused = std::mem::replace(&mut self.refused, t.write_refusal.is_some());
        let Some(now) = t.primary().map(|b| b.addr.clone()) else {
            return if self.refused && !was_refused {
                Change::Refused
            } else {
                Change::None
            };
        };
        let moved = self.last.as_ref().is_some_and(|l| *l != now);
        self.last = Some(now);
        if moved {
            Change::Failover
        } else {
            Change::None
        }
    }
}

/// Why a connection to `addr`, taken while it was the primary, must not
/// carry requests any more: another backend is the primary, or writes are
/// refused. None while `addr` is still the primary or none is known yet
/// (it may come back).
pub fn superseded(t: &Topology, addr: &str) -> Option<String> {
    match (t.primary(), &t.write_refusal) {
        (Some(p), _) if &*p.addr != addr => Some(format!("{} took over", p.addr)),
        (None, Some(r)) => Some(format!("writes are refused: {r}")),
        _ => None,
    }
}

/// Runs until `shutdown`: counts failovers in `metrics` and wakes the
/// sessions waiting on `moved` when the primary moved or writes are refused.
pub async fn follow(
    mut topology: TopologyRx,
    metrics: Arc<Metrics>,
    moved: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut watch = PrimaryWatch::new(&topology.borrow());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = topology.changed() => if r.is_err() { return },
        }
        let change = watch.observe(&topology.borrow_and_update());
        if change == Change::Failover {
            metrics.failover();
        }
        if change != Change::None {
            moved.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::BackendState;

    fn topo(primary: Option<usize>, refused: bool) -> Topology {
        Topology {
            backends: vec![BackendState::new("a:1", 1), BackendState::new("b:1", 1)],
            primary,
            write_refusal: refused.then(|| "two primaries".to_owned()),
            timeline: None,
        }
    }

    #[test]
    fn a_connection_is_superseded_when_another_backend_leads_or_writes_are_refused() {
        let cases = [
            (Some(0), false, None),
            (Some(1), false, Some("b:1 took over")),
            (Option::None, false, None),
            (
                Option::None,
                true,
                Some("writes are refused: two primaries"),
            ),
        ];
        for (primary, refused, want) in cases {
            let got = superseded(&topo(primary, refused), "a:1");
            assert_eq!(got.as_deref(), want, "{primary:?} {refused}");
        }
    }

    #[test]
    fn changes_of_the_primary() {
        use Change::*;
        // Snapshots after starting with a primary on a: (primary, writes
        // refused), and what each one means.
        type Snapshots<'a> = &'a [(Option<usize>, bool)];
        let cases: &[(Snapshots, &[Change])] = &[
            (&[(Some(0), false)], &[None]),
            (&[(Some(1), false)], &[Failover]),
            // Down, then back: the same primary, no failover.
            (&[(Option::None, false), (Some(0), false)], &[None, None]),
            // Down, then another one: a failover when it appears.
            (
                &[(Option::None, false), (Some(1), false)],
                &[None, Failover],
            ),
            (
                &[(Option::None, true), (Option::None, true)],
                &[Refused, None],
            ),
            (&[(Option::None, true), (Some(0), false)], &[Refused, None]),
            (
                &[(Option::None, true), (Some(1), false)],
                &[Refused, Failover],
            ),
        ];
        for (snapshots, want) in cases {
            let mut w = PrimaryWatch::new(&topo(Some(0), false));
            let got: Vec<Change> = snapshots
                .iter()
                .map(|&(p, r)| w.observe(&topo(p, r)))
                .collect();
            assert_eq!(&got[..], *want, "{snapshots:?}");
        }
    }
}
