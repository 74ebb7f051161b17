//! An extended-protocol batch the client ends with Flush and never with
//! Sync. asyncpg prepares so (Parse, Describe, Flush), then may send a
//! simple Query next (its COPY): the server takes the Query as the end of
//! that batch. When the Query goes to the same backend, it ends the batch
//! there, as one request (`on_query`). When it goes to another backend,
//! the proxy ends the batch itself with a Sync, whose ReadyForQuery it
//! keeps from the client; otherwise the Query would wait forever for a
//! Sync that never comes (replies must come back in request order).
//! A FunctionCall is such a simple request too.

use bytes::BytesMut;

use super::relay::{Flow, Relay};
use super::request::absorb;
use super::{Effect, Pending, Session, SessionError, Slot};
use crate::protocol::{messages, tag};

impl Relay {
    /// The effect of a simple request sent to `slot`: when it ends the
    /// batch left open there, the server runs both in one implicit
    /// transaction answered by one ReadyForQuery, so it is one request,
    /// the batch's Executes first.
    pub(super) fn ended_by_simple(
        &mut self,
        slot: Slot,
        effect: Option<Box<Effect>>,
    ) -> Option<Box<Effect>> {
        if self.open != Some(slot) {
            return effect;
        }
        self.open = None;
        let executes = self.executes;
        after_batch(self.take_effect(), executes, effect)
    }
}

impl Session {
    /// Before a simple request: extended-protocol messages gathered
    /// without Flush or Sync are sent first, as the server runs them
    /// first (the batch stays open on their backend).
    pub(super) async fn send_gathered(
        &mut self,
        st: &mut Relay,
    ) -> Result<Option<Flow>, SessionError> {
        if st.batch.is_empty() {
            return Ok(None);
        }
        self.flush_batch(st, 0).await
    }

    /// Before a simple request bound for `target`: ends a batch left open
    /// without Sync on another backend.
    pub(super) async fn end_unsynced(
        &mut self,
        st: &mut Relay,
        target: Slot,
    ) -> Result<(), SessionError> {
        let Some(open) = st.open else {
            return Ok(());
        };
        if open == target {
            // The Query itself ends the batch there (`on_query`).
            return Ok(());
        }
        st.open = None;
        let effect = st.take_effect();
        let Some(h) = self.held_mut(open) else {
            return Ok(());
        };
        let mut sync = BytesMut::new();
        messages::put_frame(&mut sync, tag::SYNC, |_| {});
        h.pending.push_back(Pending {
            extended: true,
            effect,
            swallow: false,
            own_sync: true,
            kept: std::mem::take(&mut st.kept),
        });
        match h.conn.write_all(&sync).await {
            Ok(()) => h.outstanding += 1,
            Err(e) => {
                h.pending.pop_back();
                self.backend_lost(st, open, &e);
            }
        }
        Ok(())
    }
}

/// The effect of a simple request that ends a batch left open without
/// Sync, the batch's `executes` Executes first: one request, whose
/// answered statements (the Executes', then the Query's) tell which steps
/// ran.
fn after_batch(
    batch: Option<Box<Effect>>,
    executes: usize,
    query: Option<Box<Effect>>,
) -> Option<Box<Effect>> {
    let mut effect = batch;
    if let Some(q) = query {
        absorb(&mut effect, *q, |at| executes + at);
    }
    if let Some(e) = &mut effect {
        e.several = true;
    }
    effect
}
