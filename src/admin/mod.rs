//! The admin side: HTTP endpoints ([`http`]), the Prometheus registry
//! ([`metrics`]), and a small HTTP client for `pgsplit check` / `status`
//! ([`client`]).

pub mod client;
mod histogram;
pub mod http;
pub mod metrics;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::topology::TopologyRx;
use metrics::Metrics;

/// Counts failovers: the primary moving from one backend to another. Reads
/// the topology snapshots, so the topology task stays free of metrics.
pub async fn count_failovers(
    mut topology: TopologyRx,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut last: Option<Arc<str>> = topology.borrow().primary().map(|b| b.addr.clone());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = topology.changed() => if r.is_err() { return },
        }
        let now = topology
            .borrow_and_update()
            .primary()
            .map(|b| b.addr.clone());
        if let Some(addr) = &now {
            if last.as_ref().is_some_and(|l| l != addr) {
                metrics.failover();
            }
            last = now;
        }
    }
}
