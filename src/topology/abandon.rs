//! Follows the topology snapshots for sessions with requests in flight:
//! counts failovers, and wakes sessions when a backend their requests may
//! be in flight on stopped being the primary or went down.
//!
//! - A request sent to a primary that was cut off can sit in the network
//!   and be delivered when the link heals, after another backend took
//!   over: sessions reset those connections so it never lands there
//!   (split-brain by a write already on its way), and answer 08007.
//! - A read in flight on a replica the health checker took out (it stopped
//!   answering: a partition, a paused host) would wait for TCP to give up,
//!   about 15 minutes: sessions abandon it with 08006, and the client's
//!   retry goes to a healthy backend. A primary that went down without a
//!   successor keeps its requests: it may come back, and a write's outcome
//!   would only become unknown.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{Topology, TopologyRx};
use crate::admin::metrics::Metrics;
use crate::signal::Signal;

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

/// A backend up in `prev` is down in `next` (matched by address).
pub fn went_down(prev: &Topology, next: &Topology) -> bool {
    next.backends
        .iter()
        .any(|b| !b.up && prev.backends.iter().any(|p| p.up && p.addr == b.addr))
}

/// Whether a connection to `addr` is to a backend that is down now.
pub fn down(t: &Topology, addr: &str) -> bool {
    t.backends.iter().any(|b| &*b.addr == addr && !b.up)
}

/// Runs until `shutdown`: counts failovers in `metrics` and wakes the
/// sessions waiting on `abandon` when the primary moved, writes are
/// refused or a backend went down.
pub async fn follow(
    mut topology: TopologyRx,
    metrics: Arc<Metrics>,
    abandon: Arc<Signal>,
    shutdown: CancellationToken,
) {
    let mut prev = topology.borrow().clone();
    let mut watch = PrimaryWatch::new(&prev);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = topology.changed() => if r.is_err() { return },
        }
        let next = topology.borrow_and_update().clone();
        let change = watch.observe(&next);
        if change == Change::Failover {
            metrics.failover();
        }
        if change != Change::None || went_down(&prev, &next) {
            abandon.fire();
        }
        prev = next;
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
    fn a_backend_going_down_is_noticed_by_address() {
        let up = |ups: [bool; 2]| {
            let mut t = topo(Some(0), false);
            for (b, u) in t.backends.iter_mut().zip(ups) {
                b.up = u;
            }
            t
        };
        assert!(went_down(&up([true, true]), &up([true, false])));
        assert!(!went_down(&up([true, false]), &up([true, false])));
        assert!(!went_down(&up([true, false]), &up([true, true])));
        // Renumbered by a reload: matched by address, not index.
        let mut swapped = up([true, false]);
        swapped.backends.reverse();
        assert!(!went_down(&up([true, false]), &swapped));
        assert!(down(&up([true, false]), "b:1"));
        assert!(!down(&up([true, false]), "a:1"));
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
