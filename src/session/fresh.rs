//! Read-your-writes by WAL position.
//!
//! After a request that may have committed a write on the primary, and once
//! the primary answered it with ReadyForQuery `I` (nothing left open), the
//! proxy asks that same connection for `pg_current_wal_lsn()`; the reply is
//! kept from the client. It is sent after the client already has its answer,
//! so the write itself is not slowed; a read that follows waits for the
//! position, then goes to a replica only if that replica has replayed at
//! least that far (checked with one cheap query when the last known position
//! is behind), else to the primary after `causal_wait_timeout`.
//!
//! LSNs do not say which timeline they belong to: after a failover the
//! session's position is replaced by the new primary's current one.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::BytesMut;

use super::{Pending, Session, Slot};
use crate::classify::{Class, Classification, TxCmd};
use crate::config::Consistency;
use crate::protocol::messages;
use crate::topology::probe::parse_lsn;

/// The query whose reply is swallowed.
const LSN_QUERY: &str = "SELECT pg_catalog.pg_current_wal_lsn()";

/// Whether a replica may serve the next read.
pub(super) enum Fresh {
    Yes,
    No,
    /// The replica connection still owes replies: try again later.
    Busy,
}

/// True when a statement of this class, sent to the primary, may write WAL
/// that a later read must see. Inside a transaction the position is learnt
/// when the transaction ends (ReadyForQuery `I`), so COMMIT itself need not
/// count, and a transaction that only read costs nothing. `COMMIT PREPARED`
/// commits work done in another session.
pub(super) fn may_write(c: &Classification) -> bool {
    let one = |class: &Class| match class {
        Class::Read | Class::Session(_) => false,
        Class::Transaction(t) => matches!(t, TxCmd::CommitPrepared),
        Class::Write(_) => true,
    };
    one(&c.class) || c.parts.iter().any(one)
}

impl Session {
    fn consistency(&self) -> Consistency {
        self.shared.config.load().routing.consistency
    }

    /// Marks the primary connection: once it is idle again, learn its WAL
    /// position.
    pub(super) fn expect_write(&mut self, slot: Slot, classes: &[&Classification]) {
        if slot != Slot::Primary || self.consistency() == Consistency::Eventual {
            return;
        }
        if classes.iter().any(|c| may_write(c)) {
            if let Some(h) = self.primary.as_mut() {
                h.lsn_due = true;
            }
        }
    }

    /// Sends the swallowed WAL-position query on `slot` if one is due.
    pub(super) async fn send_lsn_probe(&mut self, slot: Slot) {
        let Some(h) = self.held_mut(slot) else {
            return;
        };
        if !h.probe_due {
            return;
        }
        h.probe_due = false;
        let mut out = BytesMut::with_capacity(64);
        messages::query(&mut out, LSN_QUERY);
        if h.conn.write_all(&out).await.is_ok() {
            h.outstanding += 1;
            h.pending.push_back(Pending {
                extended: false,
                effect: None,
                probe: true,
            });
        }
    }

    /// Records a WAL position the primary reported after a write.
    pub(super) fn wrote_up_to(&mut self, lsn: u64) {
        let timeline = self.shared.topology.borrow().timeline;
        if self.write_timeline != timeline {
            self.write_timeline = timeline;
            self.write_lsn = 0;
        }
        self.write_lsn = self.write_lsn.max(lsn);
        self.shared.global_lsn.fetch_max(lsn, Ordering::AcqRel);
    }

    /// The position a replica must have replayed for this session's reads.
    fn required_lsn(&mut self) -> u64 {
        let consistency = self.consistency();
        if consistency == Consistency::Eventual {
            return 0;
        }
        let topology = self.shared.topology.borrow().clone();
        if self.write_lsn > 0 && self.write_timeline != topology.timeline {
            // A failover: what was written before may be on no replica's
            // timeline; ask for everything the new primary has.
            self.write_timeline = topology.timeline;
            self.write_lsn = topology
                .primary()
                .and_then(|p| p.current_lsn)
                .unwrap_or(u64::MAX);
        }
        match consistency {
            Consistency::Global => self
                .write_lsn
                .max(self.shared.global_lsn.load(Ordering::Acquire)),
            _ => self.write_lsn,
        }
    }

    /// Whether the session's replica has replayed what its next read must
    /// see; asks the replica itself, waiting up to `causal_wait_timeout`,
    /// when the known position is behind.
    pub(super) async fn replica_fresh(&mut self) -> Fresh {
        let required = self.required_lsn();
        if required == 0 {
            return Fresh::Yes;
        }
        if self.ensure(Slot::Replica).await.is_err() {
            return Fresh::No;
        }
        let Some(h) = self.replica.as_ref() else {
            return Fresh::No;
        };
        let backend = h.backend;
        let known = self
            .shared
            .topology
            .borrow()
            .backends
            .get(backend)
            .and_then(|b| b.replay_lsn)
            .unwrap_or(0)
            .max(match self.replica_seen {
                Some((b, lsn)) if b == backend => lsn,
                _ => 0,
            });
        if known >= required {
            return Fresh::Yes;
        }
        if h.outstanding > 0 {
            return Fresh::Busy;
        }
        let wait = self.shared.config.load().routing.causal_wait_timeout;
        let started = Instant::now();
        loop {
            let Some(h) = self.replica.as_mut() else {
                return Fresh::No;
            };
            let replayed = match h
                .conn
                .simple_query("SELECT pg_catalog.pg_last_wal_replay_lsn()")
                .await
            {
                Ok(rows) => rows
                    .first()
                    .and_then(|r| r.first())
                    .and_then(|v| v.as_deref())
                    .and_then(parse_lsn)
                    .unwrap_or(0),
                Err(e) => {
                    tracing::debug!(error = %e, "replica position check failed");
                    return Fresh::No;
                }
            };
            self.replica_seen = Some((backend, replayed));
            if replayed >= required {
                return Fresh::Yes;
            }
            if started.elapsed() >= wait {
                return Fresh::No;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}

/// The LSN in a DataRow of the swallowed query.
pub(super) fn lsn_in_row(body: &[u8]) -> Option<u64> {
    // DataRow: column count, then length-prefixed values.
    let len = messages::u32_at(body, 2)? as usize;
    let value = body.get(6..6 + len)?;
    parse_lsn(std::str::from_utf8(value).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::WriteReason;

    #[test]
    fn which_statements_may_commit_writes() {
        let c = Classification::of;
        assert!(may_write(&c(Class::Write(WriteReason::Dml))));
        assert!(!may_write(&c(Class::Transaction(TxCmd::Commit))));
        assert!(may_write(&c(Class::Transaction(TxCmd::CommitPrepared))));
        assert!(!may_write(&c(Class::Read)));
        assert!(!may_write(&c(Class::Transaction(TxCmd::Begin {
            read_only: None
        }))));
        assert!(!may_write(&c(Class::Transaction(TxCmd::Rollback))));
    }

    #[test]
    fn lsn_from_a_data_row() {
        let mut body = vec![0, 1];
        body.extend_from_slice(&9u32.to_be_bytes());
        body.extend_from_slice(b"0/3000148");
        assert_eq!(lsn_in_row(&body), Some(0x3000148));
        assert_eq!(lsn_in_row(&body[..8]), None);
    }
}
