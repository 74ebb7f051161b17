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

use super::relay::Relay;
use super::{Held, Session, Slot};
use crate::config::PoolMode;
use crate::protocol::TxStatus;

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
                conn, mut pending, ..
            } = h;
            drop(conn);
            pending.clear();
            self.spare_pending = pending;
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
