//! Handles every session needs, built once in [`crate::start`] and passed in.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::admin::metrics::Metrics;
use crate::auth::Credentials;
use crate::cancel::CancelRegistry;
use crate::config::Config;
use crate::pool::Pools;
use crate::tls::server::ClientTls;
use crate::topology::TopologyRx;

pub struct Shared {
    /// The live configuration; a reload swaps it whole. Read it once per
    /// use (`shared.config.load()`), never hold the guard across an await.
    pub config: ArcSwap<Config>,
    /// Users built from `config`, swapped together with it.
    pub creds: ArcSwap<Credentials>,
    /// Client-facing TLS from `[tls]`; rebuilt (certificate files re-read)
    /// on every reload.
    pub client_tls: ArcSwap<ClientTls>,
    /// Users fetched by `[auth]` query.
    pub auth_cache: crate::auth::query::AuthCache,
    pub pools: Arc<Pools>,
    pub topology: TopologyRx,
    pub cancels: Arc<CancelRegistry>,
    /// Per-database function volatility and classification cache.
    pub catalogs: crate::catalog::Catalogs,
    pub metrics: Arc<Metrics>,
    /// Fired when a graceful shutdown begins: the listener closes and idle
    /// sessions end with 57P01.
    pub drain: crate::signal::Signal,
    /// Fired when requests in flight may have to be abandoned: the primary
    /// moved, writes are refused, or a backend went down
    /// (`topology::abandon`).
    pub abandon: Arc<crate::signal::Signal>,
    /// Client sessions open now (checked against `listen.max_clients`).
    pub clients: ClientCount,
    /// Writes committed through this proxy and the WAL position known to
    /// cover them (consistency = "global").
    pub global_lsn: crate::session::fresh::GlobalLsn,
    /// ParameterStatus values new sessions are greeted with.
    pub greetings: crate::session::greeting::Greetings,
}

/// Counts client sessions; a slot is given back when its guard drops.
#[derive(Default)]
pub struct ClientCount(Arc<AtomicUsize>);

pub struct ClientSlot(Arc<AtomicUsize>);

impl ClientCount {
    /// A slot when fewer than `max` are taken.
    pub fn try_take(&self, max: usize) -> Option<ClientSlot> {
        if self.0.fetch_add(1, Ordering::AcqRel) >= max {
            self.0.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(ClientSlot(self.0.clone()))
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
