//! Transaction pooling: a backend connection goes back to its pool as soon
//! as its ReadyForQuery says `I` and nothing is owed on it, so the next
//! request may run on another connection (primary or replica, as routing
//! decides).
//!
//! Nothing is reset on the way back (a `DISCARD ALL` per transaction costs
//! a round trip): the connection keeps what it has, recorded in
//! `BackendConn::applied` and `BackendConn::prepared`, and the next
//! session's `Tracked::plan` brings it in line at checkout. A pinned
//! session (LISTEN, session advisory lock, temp table, WITH HOLD cursor)
//! keeps its primary connection until the state is gone (`DISCARD ALL`) or
//! the session ends, when the connection is reset like in session mode.

use std::sync::Arc;

use super::relay::Relay;
use super::{EnsureError, Held, Session, Slot};
use crate::config::PoolMode;
use crate::pool::Pool;
use crate::protocol::TxStatus;

/// The connection a session last wrote on, as it went back to its pool.
pub(super) struct LastWrite {
    pool: Arc<Pool>,
    pid: u32,
    lent: u64,
}

impl Session {
    pub(super) fn transaction_pooling(&self) -> bool {
        self.mode == PoolMode::Transaction
    }

    /// In transaction mode, gives `slot`'s connection back when nothing is
    /// owed on it: no reply outstanding, no batch open, no COPY, no
    /// transaction, and the session is not pinned to it.
    pub(super) fn release_if_done(&mut self, st: &Relay, slot: Slot) {
        if !self.transaction_pooling() || self.tx != TxStatus::Idle {
            return;
        }
        if slot == Slot::Primary && self.tracked.pinned() {
            return;
        }
        if st.open == Some(slot) || st.copy_in == Some(slot) {
            return;
        }
        let done = self.held(slot).is_some_and(|h| {
            h.outstanding == 0 && h.conn.tx == TxStatus::Idle && h.conn.rbuf.is_empty()
        });
        if !done {
            return;
        }
        if let Some(h) = self.take(slot) {
            self.forget_cancel(slot);
            let Held {
                conn,
                mut pending,
                wrote,
                ..
            } = h;
            if wrote {
                self.last_write = Some(LastWrite {
                    pool: conn.pool().clone(),
                    pid: conn.key.pid,
                    lent: conn.lent,
                });
            }
            drop(conn);
            pending.clear();
            self.spare_pending = pending;
        }
    }

    /// `lastval()` and `currval()` answer from the sequence state of the
    /// server connection they run on: a request calling them, in
    /// transaction mode with no primary connection held, gets back the
    /// connection the session last wrote on, if no other session used it
    /// since. Otherwise it fails (55000) rather than read another client's
    /// value.
    pub(super) fn reclaim_last_write(
        &mut self,
        target: Slot,
        last_value: bool,
    ) -> Result<(), EnsureError> {
        if !last_value
            || target != Slot::Primary
            || !self.transaction_pooling()
            || self.primary.is_some()
        {
            return Ok(());
        }
        let conn = self
            .last_write
            .take()
            .and_then(|w| w.pool.reclaim(w.pid, w.lent));
        let topology = self.shared.topology.borrow().clone();
        let primary = topology.primary.filter(|&i| {
            let addr = topology.backends.get(i).map(|b| &b.addr);
            conn.as_ref().is_some_and(|c| Some(&c.addr) == addr)
        });
        match (conn, primary) {
            (Some(conn), Some(i)) => {
                self.hold(Slot::Primary, conn, i);
                Ok(())
            }
            _ => Err(EnsureError::SequenceState),
        }
    }

    /// Every connection that is done goes back (after the handshake).
    pub(super) fn release_idle(&mut self, st: &Relay) {
        for slot in [Slot::Primary, Slot::Replica] {
            self.release_if_done(st, slot);
        }
    }

    /// A CancelRequest must not reach a connection another session uses now.
    fn forget_cancel(&mut self, slot: Slot) {
        if self.cancel_target.is_some_and(|(s, _)| s == slot) {
            *self.cancel.slot.lock().unwrap_or_else(|p| p.into_inner()) = None;
            self.cancel_target = None;
        }
    }
}
