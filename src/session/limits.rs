//! Limits on a client inside the relay: the idle-in-transaction timeout
//! (`[listen] idle_in_transaction_timeout`).

use std::time::Duration;

use super::relay::Relay;
use super::{Held, Session};
use crate::error::ClientError;
use crate::protocol::{messages, TxStatus};

impl Session {
    /// How long the client may stay silent now: only limited while a
    /// transaction is open and nothing is owed either way (the client is
    /// not waiting for us, and we are not half-way through its request).
    pub(super) fn idle_in_transaction_limit(&self, st: &Relay) -> Option<Duration> {
        let limit = st.idle_tx_limit?;
        let owed = |h: &Option<Held>| h.as_ref().is_some_and(|h| h.outstanding > 0);
        let in_tx = self.tx != TxStatus::Idle || self.deferred_begin.is_some();
        let waiting = in_tx
            && !owed(&self.primary)
            && !owed(&self.replica)
            && st.open.is_none()
            && st.batch.is_empty()
            && st.copy_in.is_none()
            && self.client.rbuf.is_empty();
        waiting.then_some(limit)
    }

    /// The limit passed: tell the client as PostgreSQL does; the session's
    /// end rolls the transaction back and returns the connection.
    pub(super) fn idle_in_transaction_expired(&mut self) -> ClientError {
        tracing::info!("closing a client idle in a transaction too long");
        messages::error(
            &mut self.client.wbuf,
            "FATAL",
            "25P03",
            "terminating connection due to idle-in-transaction timeout",
        );
        ClientError::IdleInTransaction
    }
}

/// Fires after `limit`, or never.
pub(super) async fn idle_timer(limit: Option<Duration>) {
    match limit {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
