//! An extended-protocol batch the client ends with Flush and never with
//! Sync. asyncpg prepares so (Parse, Describe, Flush), then may send a
//! simple Query next (its COPY): the server takes the Query as the end of
//! that batch. When the Query goes to the same backend, it ends the batch
//! there, as one request (`on_query`). When it goes to another backend,
//! the proxy ends the batch itself with a Sync, whose ReadyForQuery it
//! keeps from the client; otherwise the Query would wait forever for a
//! Sync that never comes (replies must come back in request order).

use bytes::BytesMut;

use super::relay::Relay;
use super::{Pending, Session, SessionError, Slot};
use crate::protocol::{messages, tag};

impl Session {
    /// Before a simple Query bound for `target`: ends a batch left open
    /// without Sync.
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
