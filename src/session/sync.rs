//! Getting a backend connection ready for a request: open it if needed,
//! then replay what it lacks of the session (settings, prepared statements)
//! with the replies kept from the client.

use bytes::BytesMut;

use super::state::{Fresh, Plan};
use super::{EnsureError, Session, Slot};
use crate::backend::BackendConn;
use crate::error::BackendError;
use crate::protocol::{messages, tag, TxStatus};

/// Whether a request may have its connection close the statements a
/// failed request left uncertain (`Statements::uncertain`), first.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tidy {
    /// Not while a batch is open on the connection: the close would end
    /// with a Sync in the middle of the client's batch.
    pub allowed: bool,
    /// The statement the client's `""` names there: its Bind may still
    /// come (the server keeps the unnamed statement after an error).
    pub except: Option<u64>,
}

impl Tidy {
    pub(super) const NOW: Tidy = Tidy {
        allowed: true,
        except: None,
    };
}

/// Outcome of getting a connection ready.
pub(super) enum Prep {
    /// Ready; the request goes to this slot (a replica request may have
    /// fallen back to the primary).
    Ready(Slot),
    /// The connection still owes replies; replay must wait until it is idle.
    Busy,
    /// The request cannot run: answer the client with this error.
    Failed(EnsureError),
}

impl Session {
    /// Opens `slot`'s connection if needed and brings it up to date: its
    /// settings match the session, it has the statements in `needs`, and
    /// none of the names in `fresh` (about to be prepared again); when
    /// `tidy` allows, none left uncertain by a failed request.
    pub(super) async fn prepare(
        &mut self,
        slot: Slot,
        needs: &[String],
        fresh: &[Fresh],
        tidy: Tidy,
    ) -> Prep {
        let slot = match self.ensure(slot).await {
            Ok(()) => slot,
            // Anything bound for a replica may run on the primary instead.
            Err(e) if slot == Slot::Replica && self.tx == TxStatus::Idle => {
                tracing::debug!(error = %e, "no replica connection; using the primary");
                match self.ensure(Slot::Primary).await {
                    Ok(()) => Slot::Primary,
                    Err(e) => return Prep::Failed(e),
                }
            }
            Err(e) => return Prep::Failed(e),
        };
        let generation = self.tracked.generation;
        let held = match slot {
            Slot::Primary => self.primary.as_mut(),
            Slot::Replica => self.replica.as_mut(),
        };
        let Some(held) = held else {
            return Prep::Failed(EnsureError::NoPrimary);
        };
        let current = held.synced == Some(generation);
        let tidy = Tidy {
            allowed: tidy.allowed && held.conn.prepared.unsettled(),
            ..tidy
        };
        if current
            && fresh.is_empty()
            && !tidy.allowed
            && self.tracked.has_all(&mut held.conn, needs)
        {
            return Prep::Ready(slot);
        }
        let plan = self
            .tracked
            .plan(&mut held.conn, current, needs, fresh, tidy);
        if plan.is_empty() {
            held.synced = Some(generation);
            return Prep::Ready(slot);
        }
        if held.outstanding > 0 {
            return Prep::Busy;
        }
        match Box::pin(run(&mut held.conn, &plan)).await {
            Ok(()) => {
                self.tracked.planned(&mut held.conn, &plan);
                held.synced = Some(generation);
                Prep::Ready(slot)
            }
            Err(e) => {
                tracing::warn!(error = %e, "replaying session state failed");
                if e.is_fatal() {
                    if let Some(h) = self.take(slot) {
                        h.conn.discard();
                    }
                }
                Prep::Failed(EnsureError::Backend(e))
            }
        }
    }
}

async fn run(conn: &mut BackendConn, plan: &Plan) -> Result<(), BackendError> {
    if !plan.settings.is_empty() {
        conn.simple_query(&plan.settings.join("; ")).await?;
    }
    if !plan.drops.is_empty() || !plan.parses.is_empty() {
        let mut out = BytesMut::new();
        for name in &plan.drops {
            messages::close_statement(&mut out, name);
        }
        for parse in &plan.parses {
            out.extend_from_slice(parse);
        }
        messages::put_frame(&mut out, tag::SYNC, |_| {});
        conn.exchange(&out).await?;
    }
    for sql in &plan.prepares {
        conn.simple_query(sql).await?;
    }
    Ok(())
}
