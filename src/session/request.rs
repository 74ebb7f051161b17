//! Client requests: classify, route, get the connection ready, send.
//!
//! A simple Query is one request. Extended-protocol messages are gathered
//! into a batch up to Sync or Flush (`batch`); the batch goes to one
//! backend, chosen by its most-writing statement.

use std::sync::Arc;

use bytes::{Buf, BytesMut};

use super::auto_prepare;
use super::begin::begin_decision;
use super::fresh::Fresh as Freshness;
use super::relay::{Flow, Relay, Unnamed};
use super::settings::quote_ident;
use super::state::{Body, Fresh};
use super::sync::{Prep, Tidy};
use super::tx_log::Step;
use super::{Effect, Session, SessionError, Slot};
use crate::admin::metrics;
use crate::backend::statements;
use crate::classify::{Class, Classification, Hint, SessionCmd, TxCmd};
use crate::protocol::{messages, ProtocolError, TxStatus};
use crate::route::{self, Decision, Reason};

/// Session commands, savepoints, transaction ends and pins a
/// classification carries.
pub(super) fn effect_of(c: &Classification) -> Option<Box<Effect>> {
    // A single statement has no parts; several have only parts (`class`
    // then sums them up).
    let statements = if c.parts.is_empty() {
        std::slice::from_ref(&c.class)
    } else {
        &c.parts[..]
    };
    let steps: Vec<(usize, Step)> = statements
        .iter()
        .enumerate()
        .filter_map(|(at, class)| Some((at, Step::of(class)?)))
        .collect();
    if steps.is_empty() && c.pin.is_none() && c.unpins.is_empty() {
        return None;
    }
    Some(Box::new(Effect {
        steps,
        pins: c.pins().collect(),
        unpins: c.unpins.clone(),
        parsed: Vec::new(),
        several: c.parts.len() > 1,
    }))
}

/// A plain COMMIT alone ends idle, committed or (after an error) rolled
/// back, as its ReadyForQuery says: `TxLog::walk` needs no step for it, so
/// the common end of a transaction allocates no effect.
fn lone_commit(c: &Classification) -> bool {
    c.parts.is_empty() && matches!(c.class, Class::Transaction(TxCmd::Commit { chain: false }))
}

/// Adds a bound statement's effect to its batch's, its steps in the
/// batch's statement `at` (the Execute that runs it, counted from 0 since
/// the last Sync): when the batch fails, the Executes answered before the
/// error tell which steps ran, as the statements of a simple Query do.
pub(super) fn merge(into: &mut Option<Box<Effect>>, from: Option<Box<Effect>>, at: usize) {
    if let Some(f) = from {
        absorb(into, *f, |_| at);
    }
}

/// Adds `from` to `into`, each step's statement numbered anew by `at`.
pub(super) fn absorb(into: &mut Option<Box<Effect>>, from: Effect, at: impl Fn(usize) -> usize) {
    let e = into.get_or_insert_with(Default::default);
    e.steps
        .extend(from.steps.into_iter().map(|(i, step)| (at(i), step)));
    e.pins.extend(from.pins);
    e.unpins.extend(from.unpins);
    e.parsed.extend(from.parsed);
}

impl Session {
    pub(super) async fn on_query(
        &mut self,
        st: &mut Relay,
        end: usize,
    ) -> Result<Option<Flow>, SessionError> {
        if let Some(flow) = self.send_gathered(st).await? {
            return Ok(Some(flow));
        }
        let body = &self.client.rbuf[5..end];
        let Some(sql) = messages::query_text(body) else {
            return Err(self
                .protocol_error(ProtocolError::Malformed("Query"))
                .into());
        };
        let (class, hit) = self.catalog.classify(sql);
        self.shared.metrics.classify_cache(hit);
        // A protocol statement deallocated by SQL (psycopg does so) exists
        // on the server under its proxy name.
        let mut rewritten = None;
        let (routed, needs, fresh) = match (&class.execute, &class.class) {
            (Some(name), _) => {
                let c = self.tracked.class_of(name).unwrap_or_else(|| class.clone());
                (c, vec![name.clone()], Vec::new())
            }
            (None, Class::Session(SessionCmd::Prepare { name, .. })) => {
                (class.clone(), Vec::new(), vec![Fresh::Sql(name.clone())])
            }
            (None, Class::Session(SessionCmd::Deallocate { name: Some(name) })) => {
                if let Some(server) = self.tracked.server_name(name) {
                    rewritten = Some(format!("DEALLOCATE {}", quote_ident(&server)));
                }
                (class.clone(), vec![name.clone()], Vec::new())
            }
            _ => (class.clone(), Vec::new(), Vec::new()),
        };
        if self.defer_begin(&routed, end) {
            return Ok(None);
        }
        let view = self.view();
        let mut decision = route::route(&routed, &view);
        if self.deferred_begin.is_some() {
            decision = begin_decision([&*routed], &view);
        }
        self.end_unsynced(st, decision.target).await?;
        if !self.may_send(st, decision.target) {
            return Ok(Some(Flow::Blocked));
        }
        if view.transaction.is_none() && routed.hint != Some(Hint::Replica) {
            match self.check_fresh(decision).await {
                Some(d) => decision = d,
                None => return Ok(Some(Flow::Blocked)),
            }
        }
        let prep = match self.reclaim_last_write(decision.target, routed.last_value) {
            Ok(()) => {
                // The Query drops the unnamed statement: nothing to spare.
                let tidy = Tidy {
                    except: None,
                    ..st.tidy(decision.target)
                };
                self.prepare(decision.target, &needs, &fresh, tidy).await
            }
            Err(e) => Prep::Failed(e),
        };
        let slot = match self.ready_slot(st, prep, end) {
            Ok(slot) => slot,
            Err(flow) => return Ok(flow),
        };
        let mut frame = self.client.rbuf.split_to(end).freeze();
        self.note_route(decision, slot);
        self.expect_write(slot, [&*routed]);
        self.send_deferred_begin(slot).await;
        let held = match slot {
            Slot::Primary => self.primary.as_mut(),
            Slot::Replica => self.replica.as_mut(),
        };
        if let Some(held) = held {
            let conn = &mut *held.conn;
            match &class.class {
                Class::Session(SessionCmd::Prepare { name, statement }) => {
                    let sql = messages::query_text(&frame[5..])
                        .unwrap_or_default()
                        .to_owned();
                    let hash = statements::content_hash(sql.as_bytes());
                    let inner = Arc::new(statement.as_ref().clone());
                    self.tracked
                        .prepared(name, hash, Body::Sql(sql), inner, conn);
                }
                Class::Session(SessionCmd::Deallocate { name }) => {
                    self.tracked.deallocated(name.as_deref(), conn)
                }
                _ => {}
            }
        }
        if let Some(sql) = rewritten {
            let mut out = BytesMut::new();
            messages::query(&mut out, &sql);
            frame = out.freeze();
        }
        let mut effect = if lone_commit(&class) {
            None
        } else {
            effect_of(&class)
        };
        effect = st.ended_by_simple(slot, effect);
        st.unnamed_dropped(slot);
        self.send(st, slot, &frame, 1, effect).await?;
        Ok(None)
    }

    /// A FunctionCall (the fast-path interface: libpq's large objects)
    /// may do anything: the primary.
    pub(super) async fn on_function_call(
        &mut self,
        st: &mut Relay,
        end: usize,
    ) -> Result<Option<Flow>, SessionError> {
        if let Some(flow) = self.send_gathered(st).await? {
            return Ok(Some(flow));
        }
        self.end_unsynced(st, Slot::Primary).await?;
        if !self.may_send(st, Slot::Primary) {
            return Ok(Some(Flow::Blocked));
        }
        let tidy = Tidy {
            except: None,
            ..st.tidy(Slot::Primary)
        };
        let prep = self.prepare(Slot::Primary, &[], &[], tidy).await;
        let slot = match self.ready_slot(st, prep, end) {
            Ok(slot) => slot,
            Err(flow) => return Ok(flow),
        };
        let frame = self.client.rbuf.split_to(end);
        let effect = st.ended_by_simple(slot, None);
        self.send(st, slot, &frame, 1, effect).await?;
        Ok(None)
    }

    /// The slot a simple request (its message `end` bytes long) goes to
    /// once `prepare` answered, or how it ends here: blocked until the
    /// replies owed arrive, or failed (answered, its message consumed).
    fn ready_slot(&mut self, st: &mut Relay, prep: Prep, end: usize) -> Result<Slot, Option<Flow>> {
        match prep {
            Prep::Ready(slot) => Ok(slot),
            Prep::Busy => Err(Some(Flow::Blocked)),
            Prep::Failed(e) => {
                self.client.rbuf.advance(end);
                self.request_failed(st, &e, true);
                Err(None)
            }
        }
    }

    /// Where the gathered batch goes.
    fn batch_decision(&self, st: &Relay) -> Decision {
        if let Some(slot) = st.open {
            return Decision {
                target: slot,
                reason: Reason::InTransaction,
            };
        }
        let view = self.view();
        if st.info.unnamed_used {
            // A Bind to "" must reach the backend that parsed "".
            if let Some(u) = &st.last_unnamed {
                let d = route::route_all(st.info.classes.iter().map(|c| &**c), &view);
                if d.is_none_or(|d| d.target == u.slot) {
                    return Decision {
                        target: u.slot,
                        reason: d.map_or(Reason::Session, |d| d.reason),
                    };
                }
            }
        }
        route::route_all(st.info.classes.iter().map(|c| &**c), &view)
            .unwrap_or_else(|| self.neutral())
    }

    /// Sends the gathered batch (ending in Sync or Flush, or partial when it
    /// grew large): `owed` is 1 when it ends in Sync.
    pub(super) async fn flush_batch(
        &mut self,
        st: &mut Relay,
        owed: usize,
    ) -> Result<Option<Flow>, SessionError> {
        let mut decision = self.batch_decision(st);
        if self.deferred_begin.is_some() && st.open.is_none() {
            let view = self.view();
            decision = begin_decision(st.info.classes.iter().map(|c| &**c), &view);
        }
        if !self.may_send(st, decision.target) {
            return Ok(Some(Flow::Blocked));
        }
        if st.open.is_none() && (self.tx == TxStatus::Idle || self.deferred_begin.is_some()) {
            match self.check_fresh(decision).await {
                Some(d) => decision = d,
                None => return Ok(Some(Flow::Blocked)),
            }
        }
        let fresh = st.info.fresh();
        let last_value = st.info.classes.iter().any(|c| c.last_value);
        let prep = match self.reclaim_last_write(decision.target, last_value) {
            // A batch goes where one is open (`batch_decision`).
            Ok(()) => {
                let tidy = st.tidy(decision.target);
                self.prepare(decision.target, &st.info.needs, &fresh, tidy)
                    .await
            }
            Err(e) => Prep::Failed(e),
        };
        let slot = match prep {
            Prep::Ready(slot) => slot,
            Prep::Busy => return Ok(Some(Flow::Blocked)),
            Prep::Failed(e) => {
                st.batch.clear();
                st.info.clear();
                st.take_effect();
                // Parts sent before may not have run: what they kept stays
                // pending, used by no later request.
                st.kept = Default::default();
                self.request_failed(st, &e, owed > 0);
                return Ok(None);
            }
        };
        self.note_route(decision, slot);
        self.expect_write(slot, st.info.classes.iter().map(|c| &**c));
        self.send_deferred_begin(slot).await;
        let carry = st.carry(slot);
        // Drained, not taken: the batch info keeps its allocations.
        let info = &mut st.info;
        let held = match slot {
            Slot::Primary => self.primary.as_mut(),
            Slot::Replica => self.replica.as_mut(),
        };
        let mut walked = None;
        if let Some(held) = held {
            let conn = &mut *held.conn;
            // In a failed transaction the server refuses a Parse (25P02)
            // but not an empty one: every Parse goes as it came, so the
            // error comes where the client expects it.
            let autos: &[usize] = match conn.tx {
                TxStatus::Failed => &[],
                _ => &info.autos,
            };
            // With a statement carried, any Parse, Close or Bind of ""
            // in the batch may change or use it.
            if !autos.is_empty() || carry.is_some() {
                let parses = &info.parses;
                let w = auto_prepare::apply(
                    &mut st.batch,
                    &mut st.spare,
                    autos,
                    carry,
                    &mut conn.prepared,
                    |h| parses.iter().any(|p| p.1 == h),
                );
                walked = Some(w);
            }
            for (name, hash, parse, class) in info.parses.drain(..) {
                self.tracked
                    .prepared(&name, hash, Body::Protocol(parse), class, conn);
            }
            for name in &info.closes {
                self.tracked.closed(name);
            }
            for s in info.sql.drain(..) {
                s.record(&mut self.tracked, conn);
            }
        }
        let server = match walked {
            Some(w) => {
                self.shared.metrics.auto_prepare(w.prepared, w.reused);
                st.kept.absorb(w.kept);
                w.current
            }
            None => carry,
        };
        if let Some(class) = info.unnamed.take() {
            st.last_unnamed = Some(Unnamed {
                slot,
                class,
                server,
            });
        } else if info.unnamed_used {
            if let Some(u) = &mut st.last_unnamed {
                u.slot = slot;
                u.server = server;
            }
        }
        info.clear();
        // Taken and put back emptied: the buffer is reused batch after batch.
        let mut batch = std::mem::take(&mut st.batch);
        let effect = if owed > 0 { st.take_effect() } else { None };
        st.open = if owed > 0 { None } else { Some(slot) };
        let sent = self.send(st, slot, &batch, owed, effect).await;
        batch.clear();
        st.batch = batch;
        sent?;
        Ok(None)
    }

    /// Requests that carry no statement go where the session already is.
    pub(super) fn neutral(&self) -> Decision {
        let busy = [Slot::Primary, Slot::Replica]
            .into_iter()
            .find(|&s| self.held(s).is_some_and(|h| h.outstanding > 0));
        let target = busy
            .or(if self.tx != crate::protocol::TxStatus::Idle {
                self.tx_slot
            } else {
                None
            })
            .or(self.last)
            .unwrap_or(Slot::Primary);
        Decision {
            target,
            reason: Reason::Session,
        }
    }

    /// A read bound for a replica goes to the primary instead when the
    /// replica has not replayed the session's last write in time. `None`:
    /// the replica connection is busy, try again when it is idle.
    async fn check_fresh(&mut self, decision: Decision) -> Option<Decision> {
        if decision.target != Slot::Replica {
            return Some(decision);
        }
        match self.replica_fresh().await {
            Freshness::Yes => Some(decision),
            Freshness::No => Some(Decision {
                target: Slot::Primary,
                reason: Reason::Freshness,
            }),
            Freshness::Busy => None,
        }
    }

    fn note_route(&mut self, decision: Decision, slot: Slot) {
        self.last = Some(slot);
        let target = match slot {
            Slot::Primary => metrics::Target::primary,
            Slot::Replica => metrics::Target::replica,
        };
        // A replica request that fell back to the primary had no replica.
        let reason = if decision.target != slot {
            Reason::NoReplica
        } else {
            decision.reason
        };
        self.shared.metrics.routed(target, metric_reason(reason));
    }
}

fn metric_reason(r: Reason) -> metrics::Reason {
    use metrics::Reason as M;
    match r {
        Reason::Write => M::write,
        Reason::Read => M::read,
        Reason::InTransaction => M::in_transaction,
        Reason::ReadOnlyTx => M::read_only_tx,
        Reason::Hint => M::hint,
        Reason::VolatileFunction => M::volatile_function,
        Reason::Unparseable => M::unparseable,
        Reason::Pinned => M::pinned,
        Reason::NoReplica => M::no_replica,
        Reason::Lag => M::lag,
        Reason::Freshness => M::freshness,
        Reason::Session => M::session,
    }
}
