//! The backend side of the relay: replies forwarded to the client after
//! scanning frame headers only, with ReadyForQuery (transaction status,
//! replies owed, what a request changed), ParameterStatus, CopyInResponse
//! and the proxy's own swallowed replies handled on the way; and what
//! happens when a backend connection is lost.

use bytes::Buf;

use super::relay::Relay;
use super::tx_log::Outcome;
use super::{Effect, Held, Session, SessionError, Slot};
use crate::classify::Pin;
use crate::error::BackendError;
use crate::protocol::messages;
use crate::protocol::scan::Event;
use crate::protocol::{tag, ProtocolError, TxStatus};

impl Session {
    /// Forwards what a backend sent, watching ReadyForQuery (transaction
    /// status, replies owed), ParameterStatus and CopyInResponse.
    pub(super) fn relay_backend(&mut self, st: &mut Relay, slot: Slot) -> Result<(), SessionError> {
        let Session {
            client,
            primary,
            replica,
            tx,
            tx_slot,
            shared,
            lsn_unknown,
            ..
        } = self;
        let Some(held) = (match slot {
            Slot::Primary => primary.as_mut(),
            Slot::Replica => replica.as_mut(),
        }) else {
            return Ok(());
        };
        // A batch sent with Flush owes no ReadyForQuery until its Sync, but
        // its replies (an error, the statements that ran before it) tell
        // what it changed all the same.
        let open = st.open == Some(slot);
        let idle = held.outstanding == 0 && !open;
        let conn = &mut *held.conn;
        let mut params = Vec::new();
        // See `Relay::done`.
        let mut done = std::mem::take(&mut st.done);
        let mut pos = 0;
        loop {
            // The proxy's own request: every reply is read whole and none
            // reaches the client.
            let front = held.pending.front();
            let swallowing = front.is_some_and(|p| p.swallow);
            let counting =
                open || front.is_some_and(|p| p.effect.as_ref().is_some_and(|e| e.counts()));
            let want = |t| {
                swallowing
                    || matches!(
                        t,
                        tag::READY_FOR_QUERY
                            | tag::PARAMETER_STATUS
                            | tag::COPY_IN_RESPONSE
                            | tag::ERROR_RESPONSE
                    )
                    || (counting && ends_statement(t))
            };
            let event =
                held.scan
                    .next(&conn.rbuf, pos, want)
                    .map_err(|source| BackendError::Protocol {
                        addr: conn.addr.to_string(),
                        source,
                    })?;
            match event {
                Event::Pass { end } => {
                    client.wbuf.extend_from_slice(&conn.rbuf[pos..end]);
                    pos = end;
                }
                Event::Whole { tag: t, end, .. } if swallowing => {
                    if t == tag::READY_FOR_QUERY {
                        held.pending.pop_front();
                        held.outstanding = held.outstanding.saturating_sub(1);
                    }
                    pos = end;
                }
                Event::Whole { tag: t, start, end } => {
                    let body = &conn.rbuf[start + 5..end];
                    let mut forward = true;
                    match t {
                        tag::READY_FOR_QUERY => {
                            let status = body
                                .first()
                                .and_then(|&b| TxStatus::from_byte(b))
                                .ok_or_else(|| BackendError::Protocol {
                                    addr: conn.addr.to_string(),
                                    source: ProtocolError::Malformed("ReadyForQuery"),
                                })?;
                            held.outstanding = held.outstanding.saturating_sub(1);
                            let pending = held.pending.pop_front();
                            let own = pending.as_ref().is_some_and(|p| p.own_sync);
                            forward = !own;
                            let (effect, kept) = match pending {
                                Some(p) => (p.effect, p.kept),
                                None => (None, Default::default()),
                            };
                            // Statements after an error were skipped.
                            if let Some(effect) = &effect {
                                for h in &effect.parsed {
                                    conn.prepared.settled(*h, held.failed);
                                }
                            }
                            for h in kept.iter() {
                                conn.prepared.settled(h, held.failed);
                            }
                            let outcome = Outcome {
                                before: conn.tx,
                                after: status,
                                failed_at: held.failed.then_some(held.completed),
                            };
                            done.push((effect, outcome));
                            held.failed = false;
                            held.completed = 0;
                            if status == TxStatus::Idle && held.lsn_due {
                                held.lsn_due = false;
                                *lsn_unknown = true;
                                shared.global_lsn.committed();
                            }
                            if own {
                                // The client's request after it is still to come.
                            } else if let Some(at) = st.sent_at.take() {
                                shared.metrics.statement_done(at.elapsed());
                            }
                            conn.tx = status;
                            *tx = status;
                            *tx_slot = (status != TxStatus::Idle).then_some(slot);
                            if st.copy_in == Some(slot) {
                                st.copy_in = None;
                            }
                        }
                        tag::PARAMETER_STATUS => {
                            if let Some((k, v)) = messages::parameter(body) {
                                forward = k != "in_hot_standby";
                                params.push((k.to_owned(), v.to_owned()));
                            }
                        }
                        tag::COPY_IN_RESPONSE => {
                            st.copy_in = Some(slot);
                            // The server ignores a Sync that reached it during
                            // COPY FROM STDIN: the one ending the batch that
                            // started it owes no ReadyForQuery.
                            if held.pending.front().is_some_and(|p| p.extended) {
                                held.pending.pop_front();
                                held.outstanding = held.outstanding.saturating_sub(1);
                            }
                        }
                        t if ends_statement(t) => held.completed += 1,
                        _ if idle => {
                            // An error while nothing was asked: the server is
                            // ending this connection (shutdown, admin kill).
                            // Keep it from the client, which may go on.
                            let f = messages::error_fields(body);
                            tracing::warn!(backend = %conn.addr, error = %f, "backend error while idle");
                            forward = !matches!(f.severity.as_str(), "FATAL" | "PANIC");
                        }
                        _ => {
                            held.failed = true;
                            // FATAL ends the server connection, not the
                            // client's session: one ERROR per request owed
                            // follows when the connection closes.
                            let f = messages::error_fields(body);
                            if matches!(f.severity.as_str(), "FATAL" | "PANIC") {
                                forward = false;
                                held.fatal = Some(Box::new(f));
                            }
                        }
                    }
                    if forward {
                        client.wbuf.extend_from_slice(&conn.rbuf[start..end]);
                    }
                    pos = end;
                }
                Event::NeedMore { need } => {
                    conn.rbuf.advance(pos);
                    conn.rbuf.reserve(need);
                    pos = 0;
                    break;
                }
            }
        }
        conn.rbuf.advance(pos);
        for (k, v) in params {
            conn.set_param(&k, &v);
        }
        for (effect, outcome) in done.drain(..) {
            self.apply(slot, effect, outcome);
        }
        st.done = done;
        self.release_if_done(st, slot);
        Ok(())
    }

    /// Records what a request on `slot` changed: settings once the
    /// transaction they ran in commits (`TxLog::walk`), pins if it
    /// succeeded.
    fn apply(&mut self, slot: Slot, effect: Option<Box<Effect>>, outcome: Outcome) {
        let ended = outcome.before != TxStatus::Idle && outcome.after == TxStatus::Idle;
        if effect.is_none() && !ended {
            return;
        }
        let steps = effect.as_ref().map_or(&[][..], |e| &e.steps[..]);
        let committed = self.tracked.in_tx.walk(steps, outcome);
        let held = match slot {
            Slot::Primary => self.primary.as_mut(),
            Slot::Replica => self.replica.as_mut(),
        };
        let Some(held) = held else {
            return;
        };
        let mut release_other = false;
        for cmd in &committed {
            release_other |= self.tracked.record(cmd, &mut held.conn);
        }
        if effect.is_some() || !committed.is_empty() {
            held.synced = None;
        }
        if release_other {
            // DISCARD ALL: the other connection still carries the old state.
            let other = match slot {
                Slot::Primary => Slot::Replica,
                Slot::Replica => Slot::Primary,
            };
            if self.held(other).is_some_and(|h| h.outstanding == 0) {
                if let Some(h) = self.take(other) {
                    super::release(h, self.reset_timeout());
                }
            }
        }
        let Some(mut effect) = effect else {
            return;
        };
        if outcome.failed_at.is_some() {
            // The server undid what the failed text changed, but not a
            // session advisory lock: the statement taking it may have run
            // before the error. Its unpins are dropped: whether
            // `pg_advisory_unlock_all()` ran before the error is not known.
            effect.pins.retain(|p| p.outlasts_rollback());
            effect.unpins.clear();
        }
        if effect.pins.contains(&Pin::Setting) && !self.transaction_pooling() {
            // A session keeps its connections in session mode: the setting
            // stays where it ran (pg_dump's `set_config(name, …) FROM
            // pg_settings`), and only the way back to the pool resets it.
            self.tracked.untracked = true;
        } else {
            let was = self.tracked.pinned();
            // Ended first: a text that pins and unpins stays pinned.
            self.tracked.pins.retain(|p| !effect.unpins.contains(p));
            for pin in effect.pins {
                if !self.tracked.pinned() {
                    tracing::debug!(?pin, "session pinned to the primary");
                    self.shared.metrics.pinned(pin);
                }
                if !self.tracked.pins.contains(&pin) {
                    self.tracked.pins.push(pin);
                }
            }
            if was && !self.tracked.pinned() {
                tracing::debug!("session unpinned: transaction pooling resumes");
            }
        }
    }

    /// A backend connection failed. Whatever the client is waiting for from
    /// it gets an error now; the session itself goes on.
    pub(super) fn backend_lost(&mut self, st: &mut Relay, slot: Slot, e: &BackendError) {
        let Some(held) = self.take(slot) else {
            return;
        };
        tracing::warn!(error = %e, "backend connection lost");
        let (code, message) = match &held.fatal {
            Some(f) => (
                f.code.clone(),
                format!(
                    "pgsplit: backend {} ended the connection: {}",
                    held.conn.addr, f.message
                ),
            ),
            None => (
                "08006".to_owned(),
                format!("pgsplit: lost the connection to backend {}", held.conn.addr),
            ),
        };
        self.fail_held(st, slot, held, &code, &message);
    }

    /// Closes a connection taken from `slot` and answers what the client
    /// is waiting for from it with `code` and `message`.
    pub(super) fn fail_held(
        &mut self,
        st: &mut Relay,
        slot: Slot,
        held: Held,
        code: &str,
        message: &str,
    ) {
        // Only the client's own requests are answered: the proxy's swallowed
        // ones (a deferred BEGIN) owe the client nothing.
        let owed = held
            .pending
            .iter()
            .filter(|p| !p.swallow && !p.own_sync)
            .count();
        let in_tx = held.conn.tx != TxStatus::Idle;
        held.conn.discard();
        let was_open = st.open == Some(slot);
        if in_tx {
            self.tx = TxStatus::Idle;
            self.tracked.in_tx.clear();
        }
        for _ in 0..owed {
            self.reply_error(code, message, true);
        }
        if was_open {
            st.open = None;
            if owed == 0 {
                self.reply_error(code, message, false);
                st.skip_to_sync = true;
            }
        }
        if st.copy_in == Some(slot) {
            st.copy_in = None;
        }
        if in_tx && owed == 0 {
            st.lost_tx = Some(format!("{message}; the open transaction was rolled back"));
        }
    }
}

/// A reply that answers one statement (one Execute, in the extended
/// protocol) that ran without error: counted to tell which steps of a
/// failed request ran.
fn ends_statement(t: u8) -> bool {
    matches!(
        t,
        tag::COMMAND_COMPLETE | tag::EMPTY_QUERY_RESPONSE | tag::PORTAL_SUSPENDED
    )
}
