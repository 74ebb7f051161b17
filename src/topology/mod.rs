//! Which backend is the primary, which are replicas, which are down or fenced.
//!
//! The topology task ([`run`]) is the only writer: it probes every backend
//! ([`probe`]), computes the next [`Topology`] with the pure
//! [`transition::next`], and publishes it as one immutable snapshot on a
//! watch channel. Sessions read the snapshot once per statement.
//!
//! - [`transition`]: probes + previous snapshot → next snapshot (primary rule,
//!   fencing, hysteresis). Pure.
//! - [`failover`]: whether to promote a replica now. Pure.
//! - [`state`]: the highest timeline seen per cluster, kept across restarts.
//! - [`status`]: the snapshot as a text table.

pub mod abandon;
pub mod failover;
pub mod probe;
pub mod reconfig;
pub mod state;
pub mod status;
mod task;
pub mod transition;

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

use crate::config::Config;

pub use probe::{Observation, Probe};
pub use task::{discover, probes_for, run};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Not probed successfully yet.
    #[default]
    Unknown,
    Primary,
    Replica,
    /// Not in recovery, but on an older timeline than the newest primary:
    /// fenced (no reads, no writes) until it is rejoined as a replica.
    StalePrimary,
}

/// One backend as the topology task last saw it. Construct with
/// `..Default::default()` so new fields do not break callers.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct BackendState {
    pub addr: Arc<str>,
    pub weight: u32,
    pub role: Role,
    /// Usable, with hysteresis: `[health] failures` failed probes in a row
    /// mark it down, `successes` good ones bring it back.
    pub up: bool,
    /// Why the last probe failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A replica beyond `[routing] max_replica_lag(_bytes)`: no reads until
    /// it catches up.
    pub lagging: bool,
    /// Why no traffic may go to this backend (stale primary), when fenced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fenced: Option<String>,
    /// Timeline it is on (a primary's WAL insert timeline, a standby's
    /// received timeline).
    pub timeline: Option<u32>,
    /// `pg_control_system().system_identifier`: which cluster it belongs to.
    pub system_identifier: Option<u64>,
    /// Primary: current WAL write position.
    pub current_lsn: Option<u64>,
    /// Standby: last WAL position received and flushed.
    pub receive_lsn: Option<u64>,
    /// Standby: last WAL position replayed.
    pub replay_lsn: Option<u64>,
    /// Standby: primary's current LSN minus this replay LSN (same probe round).
    pub lag_bytes: Option<u64>,
    /// Standby: seconds since the last replayed transaction, 0 when caught up.
    pub lag_seconds: Option<f64>,
    /// Standby: `pg_stat_wal_receiver.status`; `None` when no receiver runs.
    pub wal_receiver: Option<String>,
    /// Consecutive failed probes (0 after a success).
    pub failures: u32,
    /// Consecutive successful probes (0 after a failure).
    pub successes: u32,
    /// The last probe succeeded.
    pub responsive: bool,
}

impl BackendState {
    pub fn new(addr: &str, weight: u32) -> BackendState {
        BackendState {
            addr: Arc::from(addr),
            weight,
            ..BackendState::default()
        }
    }

    /// The backend says it is not in recovery (primary or stale primary).
    pub fn claims_primary(&self) -> bool {
        matches!(self.role, Role::Primary | Role::StalePrimary)
    }
}

/// One immutable view of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Topology {
    pub backends: Vec<BackendState>,
    /// Index into `backends` of the backend that takes writes.
    pub primary: Option<usize>,
    /// Set when writes must be refused even if a backend claims to be the
    /// primary (two primaries on one timeline, mixed clusters): fail closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_refusal: Option<String>,
    /// Newest timeline known (observed or remembered in the state file).
    pub timeline: Option<u32>,
}

impl Topology {
    /// Before the first probe: every backend unknown, no primary.
    pub fn initial(config: &Config) -> Topology {
        Topology {
            backends: config
                .backends
                .iter()
                .map(|b| BackendState::new(&b.addr, b.weight))
                .collect(),
            ..Topology::default()
        }
    }

    pub fn primary(&self) -> Option<&BackendState> {
        self.primary.and_then(|i| self.backends.get(i))
    }

    /// Reads may go to backend `i`: up, a replica, not fenced.
    pub fn readable(&self, i: usize) -> bool {
        self.backends
            .get(i)
            .is_some_and(|b| b.up && b.role == Role::Replica && b.fenced.is_none() && !b.lagging)
    }

    /// Indexes of the readable replicas.
    pub fn replicas(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.backends.len()).filter(|&i| self.readable(i))
    }

    /// Why writes cannot go anywhere now, for the client.
    pub fn no_primary_reason(&self) -> String {
        match &self.write_refusal {
            Some(r) => format!("pgsplit: writes refused: {r}"),
            None => "pgsplit: no primary is available".into(),
        }
    }
}

pub type TopologyRx = watch::Receiver<Arc<Topology>>;
