//! Handles every session needs, built once in [`crate::run`] and passed in.

use std::sync::Arc;

use crate::auth::Credentials;
use crate::cancel::CancelRegistry;
use crate::config::Config;
use crate::pool::Pools;
use crate::topology::TopologyRx;

pub struct Shared {
    pub config: Arc<Config>,
    pub creds: Credentials,
    pub pools: Arc<Pools>,
    pub topology: TopologyRx,
    pub cancels: Arc<CancelRegistry>,
    /// Per-database function volatility and classification cache.
    pub catalogs: crate::catalog::Catalogs,
}
