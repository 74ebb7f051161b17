//! Read-your-writes by WAL position.
//!
//! Once a request that may have written on the primary is answered with
//! ReadyForQuery `I` (committed, nothing left open), the session notes that
//! it has a write to read back. Its next read bound for a replica first asks
//! the primary for `pg_current_wal_lsn()` (one round trip, on the session's
//! idle primary connection or a pooled one), then goes to the replica only
//! if that replica has replayed at least that far (checked with one cheap
//! query when the last known position is behind), else to the primary after
//! `causal_wait_timeout`. A session that only writes, or whose reads go to
//! the primary anyway (inside its transactions), never pays for the
//! position: pgbench's tpcb-like transaction costs no extra query.
//!
//! LSNs do not say which timeline they belong to: after a failover the
//! session's position is replaced by the new primary's current one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::{Session, Slot};
use crate::classify::{Class, Classification, TxCmd};
use crate::config::Consistency;
use crate::topology::probe::parse_lsn;

/// The primary's current position.
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
    pub(super) fn expect_write<'c>(
        &mut self,
        slot: Slot,
        classes: impl IntoIterator<Item = &'c Classification>,
    ) {
        if slot != Slot::Primary || !classes.into_iter().any(may_write) {
            return;
        }
        let track_lsn = self.consistency() != Consistency::Eventual;
        if let Some(h) = self.primary.as_mut() {
            h.wrote = true;
            h.lsn_due |= track_lsn;
        }
    }

    /// The primary's current WAL position, asked on the session's idle
    /// primary connection or on any pooled one. Asked after a commit was
    /// acknowledged, it is at or past that commit's record.
    async fn primary_lsn(&mut self) -> Option<u64> {
        let idle = self
            .primary
            .as_ref()
            .is_some_and(|h| h.outstanding == 0 && h.conn.rbuf.is_empty());
        let rows = match self.primary.as_mut() {
            Some(h) if idle => h.conn.simple_query(LSN_QUERY).await,
            _ => {
                let backend = self
                    .shared
                    .topology
                    .borrow()
                    .primary()
                    .map(|b| b.addr.clone())?;
                let key = self.pool_key(backend);
                match self.shared.pools.checkout(&key, &self.user.backend).await {
                    Ok(mut conn) => conn.simple_query(LSN_QUERY).await,
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot ask the primary for its WAL position");
                        return None;
                    }
                }
            }
        };
        match rows {
            Ok(rows) => rows
                .first()
                .and_then(|r| r.first())
                .and_then(|v| v.as_deref())
                .and_then(parse_lsn),
            Err(e) => {
                tracing::debug!(error = %e, "asking the primary for its WAL position failed");
                None
            }
        }
    }

    /// Learns what the next replica read must see, when a write committed
    /// since it was last learnt: the session's own (`session`), or any
    /// client's through this proxy (`global`). False when the primary
    /// could not say (the read then goes to the primary).
    async fn learn_positions(&mut self, consistency: Consistency) -> bool {
        let global = &self.shared.global_lsn;
        let commits = global.commits();
        let others = consistency == Consistency::Global && !global.covers(commits);
        if !self.lsn_unknown && !others {
            return true;
        }
        let Some(lsn) = Box::pin(self.primary_lsn()).await else {
            return false;
        };
        if self.lsn_unknown {
            self.lsn_unknown = false;
            self.wrote_up_to(lsn);
        }
        self.shared.global_lsn.learnt(lsn, commits);
        true
    }

    /// Records a WAL position the primary reported after a write.
    pub(super) fn wrote_up_to(&mut self, lsn: u64) {
        let timeline = self.shared.topology.borrow().timeline;
        if self.write_timeline != timeline {
            self.write_timeline = timeline;
            self.write_lsn = 0;
        }
        self.write_lsn = self.write_lsn.max(lsn);
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
            Consistency::Global => self.write_lsn.max(self.shared.global_lsn.lsn()),
            _ => self.write_lsn,
        }
    }

    /// Whether the session's replica has replayed what its next read must
    /// see; asks the replica itself, waiting up to `causal_wait_timeout`,
    /// when the known position is behind.
    pub(super) async fn replica_fresh(&mut self) -> Fresh {
        let consistency = self.consistency();
        if consistency != Consistency::Eventual && !self.learn_positions(consistency).await {
            return Fresh::No;
        }
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
            let replayed = match Box::pin(
                h.conn
                    .simple_query("SELECT pg_catalog.pg_last_wal_replay_lsn()"),
            )
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

/// Writes committed through this proxy, and the newest primary WAL
/// position learnt with the number of commits it is known to cover: a
/// `global` read asks the primary only when a commit happened since.
#[derive(Debug, Default)]
pub struct GlobalLsn {
    commits: AtomicU64,
    covered: AtomicU64,
    lsn: AtomicU64,
}

impl GlobalLsn {
    /// A write committed (counted before its client gets the answer).
    pub fn committed(&self) {
        self.commits.fetch_add(1, Ordering::AcqRel);
    }

    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Acquire)
    }

    fn covers(&self, commits: u64) -> bool {
        self.covered.load(Ordering::Acquire) >= commits
    }

    /// `lsn` was read from the primary after `commits` writes had committed.
    fn learnt(&self, lsn: u64, commits: u64) {
        // Position first: whoever sees the count covered sees the position.
        self.lsn.fetch_max(lsn, Ordering::AcqRel);
        self.covered.fetch_max(commits, Ordering::AcqRel);
    }

    fn lsn(&self) -> u64 {
        self.lsn.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::WriteReason;

    #[test]
    fn which_statements_may_commit_writes() {
        let c = Classification::of;
        assert!(may_write(&c(Class::Write(WriteReason::Dml))));
        assert!(!may_write(&c(Class::Transaction(TxCmd::Commit {
            chain: false
        }))));
        assert!(may_write(&c(Class::Transaction(TxCmd::CommitPrepared))));
        assert!(!may_write(&c(Class::Read)));
        assert!(!may_write(&c(Class::Transaction(TxCmd::Begin {
            read_only: None
        }))));
        assert!(!may_write(&c(Class::Transaction(TxCmd::Rollback))));
    }
    #[test]
    fn global_position_covers_commits_counted_before_it_was_read() {
        let g = GlobalLsn::default();
        assert!(g.covers(g.commits()));
        g.committed();
        let seen = g.commits();
        assert!(!g.covers(seen));
        g.learnt(0x3000, seen);
        assert!(g.covers(seen));
        assert_eq!(g.lsn(), 0x3000);
        g.committed();
        assert!(!g.covers(g.commits()));
        // An older answer never lowers the position.
        g.learnt(0x2000, seen);
        assert_eq!(g.lsn(), 0x3000);
    }
}
