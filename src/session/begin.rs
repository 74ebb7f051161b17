//! Deferred BEGIN: a plain `BEGIN` sent alone, with nothing in flight, is
//! answered at once and sent later together with the statement after it,
//! because only that statement (pg_dump's `SET TRANSACTION … READ ONLY`)
//! says whether the transaction may run on a replica.

use super::{Pending, Session, Slot};
use crate::classify::{Class, Classification, TxCmd};
use crate::protocol::{messages, tag, TxStatus};
use crate::route::{self, Decision, Reason};

impl Session {
    /// A plain `BEGIN` sent alone, with nothing in flight, is answered at
    /// once and sent later, together with the statement after it: pg_dump
    /// (and others) send `BEGIN`, then `SET TRANSACTION … READ ONLY`, and
    /// only that second statement says the transaction may run on a replica.
    pub(super) fn defer_begin(&mut self, class: &Classification, end: usize) -> bool {
        let plain_begin = matches!(
            class.class,
            Class::Transaction(TxCmd::Begin { read_only: None })
        ) && class.parts.is_empty()
            && class.hint.is_none();
        // Only the proxy's own swallowed queries may be in flight: the
        // client has all its answers, so answering BEGIN now keeps order.
        let idle = |h: &Option<super::Held>| {
            h.as_ref()
                .is_none_or(|h| h.pending.iter().all(|p| p.swallow))
        };
        if !plain_begin
            || self.tx != TxStatus::Idle
            || self.deferred_begin.is_some()
            || self.tracked.pinned()
            || self.tracked.read_only_default()
            || !idle(&self.primary)
            || !idle(&self.replica)
        {
            return false;
        }
        self.deferred_begin = Some(self.client.rbuf.split_to(end).freeze());
        messages::put_frame(&mut self.client.wbuf, tag::COMMAND_COMPLETE, |b| {
            b.extend_from_slice(b"BEGIN\0");
        });
        messages::ready_for_query(&mut self.client.wbuf, b'T');
        self.tx = TxStatus::InTransaction;
        self.tx_slot = None;
        true
    }

    /// Sends the deferred `BEGIN` ahead of the request; its replies were
    /// already given to the client, so they are kept back.
    pub(super) async fn send_deferred_begin(&mut self, slot: Slot) {
        let Some(begin) = self.deferred_begin.take() else {
            return;
        };
        let Some(h) = self.held_mut(slot) else {
            return;
        };
        h.pending.push_back(Pending {
            extended: false,
            effect: None,
            swallow: true,
            own_sync: false,
            kept: Default::default(),
        });
        h.outstanding += 1;
        if let Err(e) = h.conn.write_all(&begin).await {
            tracing::debug!(error = %e, "sending the deferred BEGIN failed");
        }
    }
}

/// Where a transaction opened by a deferred plain BEGIN runs: on a replica
/// only when its first statement declares it read only.
pub(super) fn begin_decision<'a>(
    first: impl IntoIterator<Item = &'a Classification>,
    view: &route::SessionView,
) -> Decision {
    let read_only = first.into_iter().any(|c| {
        matches!(
            c.class,
            Class::Transaction(TxCmd::SetTransaction {
                read_only: Some(true)
            })
        )
    });
    if read_only && !view.pinned {
        let begin = Classification::of(Class::Transaction(TxCmd::Begin {
            read_only: Some(true),
        }));
        return route::route(
            &begin,
            &route::SessionView {
                transaction: None,
                ..*view
            },
        );
    }
    Decision {
        target: Slot::Primary,
        reason: Reason::Write,
    }
}
