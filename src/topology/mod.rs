//! Which backend is the primary, which are replicas, which are down.
//!
//! The topology task ([`run`]) is the only writer: it probes every backend,
//! computes the next [`Topology`] with the pure [`transition::next`], and
//! publishes it as one immutable snapshot on a watch channel. Sessions read
//! the snapshot once per statement.

mod probe;
pub mod reconfig;
pub mod transition;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::pool::Pools;

pub use probe::Probe;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Not probed successfully yet.
    Unknown,
    Primary,
    Replica,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendState {
    pub addr: Arc<str>,
    pub weight: u32,
    pub role: Role,
    pub up: bool,
    /// Why the backend is down, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One immutable view of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    pub backends: Vec<BackendState>,
    /// Index into `backends` of the backend that takes writes.
    pub primary: Option<usize>,
}

impl Topology {
    /// Before the first probe: every backend unknown, no primary.
    pub fn initial(config: &Config) -> Topology {
        Topology {
            backends: config
                .backends
                .iter()
                .map(|b| BackendState {
                    addr: Arc::from(b.addr.as_str()),
                    weight: b.weight,
                    role: Role::Unknown,
                    up: false,
                    error: None,
                })
                .collect(),
            primary: None,
        }
    }

    pub fn primary(&self) -> Option<&BackendState> {
        self.primary.and_then(|i| self.backends.get(i))
    }
}

pub type TopologyRx = watch::Receiver<Arc<Topology>>;

/// Probes once, so the first clients already find the primary.
pub async fn discover(config: &Config, probes: &mut [Probe]) -> Topology {
    let prev = Topology::initial(config);
    let results = probe::round(probes).await;
    transition::next(&prev, &results)
}

/// The topology task: probe every `interval` (fast while no primary is known),
/// publish changes, follow reloaded configs, stop when `shutdown` fires.
pub async fn run(
    mut configs: watch::Receiver<Arc<Config>>,
    mut probes: Vec<Probe>,
    tx: watch::Sender<Arc<Topology>>,
    pools: Arc<Pools>,
    shutdown: CancellationToken,
) {
    const FAST: Duration = Duration::from_millis(100);
    let mut config = configs.borrow_and_update().clone();
    loop {
        let prev = tx.borrow().clone();
        let wait = if prev.primary.is_some() {
            config.health.interval
        } else {
            FAST.min(config.health.interval)
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            Ok(()) = configs.changed() => {
                // A reload: probe the new backend list from now on.
                config = configs.borrow_and_update().clone();
                probes = reconfig::probes(&config);
                tx.send_replace(Arc::new(reconfig::rebase(&prev, &config)));
                continue;
            }
        }
        let results = probe::round(&mut probes).await;
        let next = transition::next(&prev, &results);
        if next != *prev {
            for (old, new) in prev.backends.iter().zip(&next.backends) {
                if old.up && !new.up {
                    tracing::warn!(backend = %new.addr, error = ?new.error, "backend down");
                    pools.drain_backend(&new.addr);
                } else if old.role != new.role || old.up != new.up {
                    tracing::info!(backend = %new.addr, role = ?new.role, "backend state");
                }
            }
            if prev.primary != next.primary {
                tracing::warn!(
                    primary = ?next.primary().map(|b| b.addr.to_string()),
                    "primary changed"
                );
            }
            tx.send_replace(Arc::new(next));
        }
        pools.reap();
    }
}
