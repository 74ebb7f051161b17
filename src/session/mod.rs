//! One client session: handshake, then the relay loop.
//!
//! A session holds at most one backend connection per [`Slot`] (the primary
//! and one replica). Connections come from the pools and go back to them,
//! reset, when the session ends.

mod abandon;
mod auto_prepare;
mod batch;
mod begin;
pub mod client;
pub mod fresh;
pub mod greeting;
pub mod handshake;
mod limits;
mod negotiate;
mod relay;
mod replies;
mod request;
mod rewrite;
pub mod settings;
mod sql_prepare;
mod state;
mod sync;
mod tx_log;
mod txpool;
mod unsynced;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::UserEntry;
use crate::backend::statements::Kept;
use crate::backend::BackendConn;
use crate::cancel::Registration;
use crate::catalog::Catalog;
use crate::classify::Pin;
use crate::error::{BackendError, ClientError};
use crate::pool::{CheckoutError, Conn, Pool, PoolKey};
use crate::protocol::scan::Scanner;
use crate::protocol::TxStatus;
use crate::route::{self, SessionView};
use crate::shared::Shared;

use client::ClientConn;
use state::Tracked;
use tx_log::Step;

/// Which of the session's backend connections: the router's target.
pub use crate::route::Target as Slot;

/// A request sent and not yet answered with ReadyForQuery.
#[derive(Debug)]
pub struct Pending {
    /// Ended by Sync (extended protocol) rather than being a simple Query:
    /// a Sync sent before COPY FROM STDIN starts is ignored by the server.
    pub extended: bool,
    pub effect: Option<Box<Effect>>,
    /// The proxy's own request (a deferred BEGIN whose answer the client
    /// already has): its replies are kept from the client.
    pub swallow: bool,
    /// A Sync the proxy sent to end a batch the client left open (see
    /// `unsynced`): its ReadyForQuery is not forwarded.
    pub own_sync: bool,
    /// Statements kept for unnamed ones that the request used
    /// (`auto_prepare`), settled by its ReadyForQuery. Not an [`Effect`]:
    /// a request with an effect has its connection's state checked again,
    /// and most requests of a driver binding unnamed statements use one.
    pub kept: Kept,
}

/// What a request changes in the session: its steps as far as it ran
/// (see `TxLog::walk`); its pins once it succeeds (its ReadyForQuery
/// arrives with no ErrorResponse before it).
#[derive(Debug, Default)]
pub struct Effect {
    /// Session commands, savepoints, COMMIT and ROLLBACK, in statement
    /// order, each with the statement (counted from 0) it is in.
    pub steps: Vec<(usize, Step)>,
    pub pins: Vec<Pin>,
    /// Pins it ends (UNLISTEN *, pg_advisory_unlock_all(), CLOSE ALL).
    pub unpins: Vec<Pin>,
    /// Protocol statements (content hashes) the request parsed: if it
    /// fails, the connection only may have them.
    pub parsed: Vec<u64>,
    /// The request holds several statements (a simple Query's text, or
    /// Executes up to one Sync): which one failed tells which steps ran,
    /// so its replies are counted. The server stops at the first error
    /// and answers each statement before it with CommandComplete,
    /// EmptyQueryResponse or PortalSuspended.
    pub several: bool,
}

impl Effect {
    /// Replies are counted for this request (see `several`).
    pub fn counts(&self) -> bool {
        self.several && !self.steps.is_empty()
    }
}

/// A backend connection the session holds, with its relay state.
pub struct Held {
    pub conn: Conn,
    /// Index of the backend in the topology.
    pub backend: usize,
    pub scan: Scanner,
    /// ReadyForQuery messages still owed for requests sent.
    pub outstanding: usize,
    /// One entry per owed ReadyForQuery, in order.
    pub pending: VecDeque<Pending>,
    /// An ErrorResponse arrived since the last ReadyForQuery.
    pub failed: bool,
    /// Statements completed (CommandComplete) since the last
    /// ReadyForQuery, counted only where it tells which steps ran
    /// (`Effect::counts`).
    pub completed: usize,
    /// The `Tracked::generation` this connection's settings match.
    pub synced: Option<u64>,
    /// A request that may commit a write was sent: once the connection is
    /// idle again (committed), the session has a write to read back.
    pub lsn_due: bool,
    /// A request that may write (and so call `nextval`) was sent on it.
    pub wrote: bool,
    /// A FATAL the server sent while answering: it is ending the
    /// connection; the client hears of it once, when the connection closes.
    pub fatal: Option<Box<crate::protocol::messages::ErrorFields>>,
}

/// Why a request could not get a backend connection.
#[derive(Debug, thiserror::Error)]
pub enum EnsureError {
    #[error("pgsplit: no primary is available")]
    NoPrimary,
    #[error("pgsplit: no replica is available")]
    NoReplica,
    /// Writes are refused (fail closed); the message says why.
    #[error("{0}")]
    WriteRefused(String),
    /// The primary changed while the session's transaction was open on the
    /// old one; that transaction is gone.
    #[error("pgsplit: the primary changed to {0} during the transaction; it was rolled back")]
    PrimaryChanged(std::sync::Arc<str>),
    /// `lastval()` / `currval()` in transaction mode, and the connection
    /// the session last wrote on served another session since (or is gone).
    #[error(
        "pgsplit: lastval() and currval() read the sequence state of the server connection \
         the session last wrote on, and in transaction pooling that connection has served \
         another client since (or is gone); use INSERT … RETURNING, or call them in the \
         same transaction as the write"
    )]
    SequenceState,
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl EnsureError {
    /// SQLSTATE and message for the client.
    pub fn client_error(&self) -> (String, String) {
        match self {
            EnsureError::NoPrimary
            | EnsureError::NoReplica
            | EnsureError::WriteRefused(_)
            | EnsureError::PrimaryChanged(_) => ("08006".into(), self.to_string()),
            // PostgreSQL's own code for "lastval is not yet defined in this session".
            EnsureError::SequenceState => ("55000".into(), self.to_string()),
            EnsureError::Checkout(e) => (e.sqlstate().to_owned(), server_message(e)),
            EnsureError::Backend(e) => (e.sqlstate().to_owned(), backend_message(e)),
        }
    }
}

fn server_message(e: &CheckoutError) -> String {
    match e {
        CheckoutError::Backend(b) => backend_message(b),
        other => other.to_string(),
    }
}

/// A server's own message is relayed as the server wrote it; pgsplit's
/// messages name the side that failed.
fn backend_message(e: &BackendError) -> String {
    match e {
        BackendError::Server { fields, .. } => fields.message.clone(),
        other => format!("pgsplit: {other}"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

pub struct Session {
    pub client: ClientConn,
    shared: Arc<Shared>,
    user: Arc<UserEntry>,
    /// The pool key's user and database names, shared by every checkout.
    user_name: Arc<str>,
    database: Arc<str>,
    catalog: Arc<Catalog>,
    /// Settings, prepared statements and pins, made true on every backend.
    tracked: Tracked,
    primary: Option<Held>,
    replica: Option<Held>,
    /// From the last ReadyForQuery relayed.
    tx: TxStatus,
    /// The backend holding the open transaction.
    tx_slot: Option<Slot>,
    /// The backend used last.
    last: Option<Slot>,
    cancel: Registration,
    cancel_target: Option<(Slot, u32)>,
    /// WAL position of the session's last committed write, and the
    /// timeline it was on.
    write_lsn: u64,
    write_timeline: Option<u32>,
    /// A write committed since `write_lsn` was learnt: the next read bound
    /// for a replica asks the primary for its position first.
    lsn_unknown: bool,
    /// Replay position the session last saw on its replica.
    replica_seen: Option<(usize, u64)>,
    /// A plain `BEGIN` already answered to the client and not yet sent: the
    /// statement after it decides the backend (see `begin::defer_begin`).
    deferred_begin: Option<bytes::Bytes>,
    /// Session or transaction pooling, fixed when the session starts.
    mode: crate::config::PoolMode,
    /// Kept between checkouts, which in transaction mode come once per
    /// transaction: the pool each slot used last (no registry lookup while
    /// it stays the same), and an empty reply queue (no allocation).
    pools: [Option<Arc<Pool>>; 2],
    spare_pending: VecDeque<Pending>,
    /// Transaction mode: the primary connection the session last wrote on
    /// (where its `lastval()` lives), as it was given back.
    last_write: Option<txpool::LastWrite>,
}

impl Session {
    fn new(
        client: ClientConn,
        shared: Arc<Shared>,
        user: Arc<UserEntry>,
        database: String,
        settings: Vec<(String, String)>,
        cancel: Registration,
    ) -> Session {
        let catalog = shared.catalogs.get(&database);
        let mode = shared.config.load().pool_mode(&user.name, &database);
        Session {
            client,
            shared,
            user_name: Arc::from(user.name.as_str()),
            user,
            database: Arc::from(database),
            catalog,
            tracked: Tracked::new(&settings),
            primary: None,
            replica: None,
            tx: TxStatus::Idle,
            tx_slot: None,
            last: None,
            cancel,
            cancel_target: None,
            write_lsn: 0,
            lsn_unknown: false,
            write_timeline: None,
            replica_seen: None,
            deferred_begin: None,
            mode,
            pools: [None, None],
            spare_pending: VecDeque::new(),
            last_write: None,
        }
    }

    /// The session as the router sees it.
    fn view(&self) -> SessionView {
        let topology = self.shared.topology.borrow();
        let held_readable = self
            .replica
            .as_ref()
            .is_some_and(|h| topology.readable(h.backend));
        let any_readable = topology.replicas().next().is_some();
        let lagging = topology.backends.iter().any(|b| b.lagging);
        SessionView {
            transaction: if self.tx == TxStatus::Idle {
                None
            } else {
                self.tx_slot
            },
            pinned: self.tracked.pinned(),
            read_only_default: self.tracked.read_only_default(),
            replica_usable: held_readable || any_readable,
            replicas_lagging: lagging,
            last: self.last,
        }
    }

    pub fn held(&self, slot: Slot) -> Option<&Held> {
        match slot {
            Slot::Primary => self.primary.as_ref(),
            Slot::Replica => self.replica.as_ref(),
        }
    }

    fn held_mut(&mut self, slot: Slot) -> Option<&mut Held> {
        match slot {
            Slot::Primary => self.primary.as_mut(),
            Slot::Replica => self.replica.as_mut(),
        }
    }

    fn take(&mut self, slot: Slot) -> Option<Held> {
        match slot {
            Slot::Primary => self.primary.take(),
            Slot::Replica => self.replica.take(),
        }
    }

    /// The slot whose connection opens the session: the primary, or a
    /// replica while no primary is known (reads keep working).
    fn startup_slot(&self) -> Slot {
        if self.shared.topology.borrow().primary.is_some() {
            Slot::Primary
        } else {
            Slot::Replica
        }
    }

    /// Makes sure `slot` holds a connection to the backend the topology
    /// names for it now. A transaction never silently moves backends.
    async fn ensure(&mut self, slot: Slot) -> Result<(), EnsureError> {
        // A read-only transaction on a replica finishes there even if the
        // replica falls out of favour; one on the primary must not go on
        // against a primary that was replaced (below).
        if self.tx != TxStatus::Idle
            && slot == Slot::Replica
            && self.tx_slot == Some(slot)
            && self.held(slot).is_some()
        {
            return Ok(());
        }
        let topology = self.shared.topology.borrow().clone();
        let no_primary = || match &topology.write_refusal {
            Some(_) => EnsureError::WriteRefused(topology.no_primary_reason()),
            None => EnsureError::NoPrimary,
        };
        let backend = match slot {
            Slot::Primary => topology.primary.ok_or_else(no_primary)?,
            Slot::Replica => match &self.replica {
                Some(h) if topology.readable(h.backend) => h.backend,
                _ => {
                    route::pick_replica(&topology, rand::random()).ok_or(EnsureError::NoReplica)?
                }
            },
        };
        // Compared by address: a reload may renumber the backends.
        if let Some(h) = self.held_mut(slot) {
            if h.conn.addr == topology.backends[backend].addr {
                h.backend = backend;
                return Ok(());
            }
        }
        // The role moved to another backend (failover): let the old one go.
        // A transaction open there cannot continue on the new primary.
        if let Some(old) = self.take(slot) {
            let in_tx = old.conn.tx != TxStatus::Idle;
            release(old, self.reset_timeout());
            if in_tx {
                // Rolled back on release: its settings with it.
                self.tx = TxStatus::Idle;
                self.tracked.in_tx.clear();
                return Err(EnsureError::PrimaryChanged(
                    topology.backends[backend].addr.clone(),
                ));
            }
        }
        let key = self.pool_key(topology.backends[backend].addr.clone());
        // Boxed, like the other rare awaits on the relay's path, so the
        // session's own future (held by every idle client) stays small.
        let cache = &mut self.pools[slot as usize];
        let conn = Box::pin(
            self.shared
                .pools
                .checkout_with(&key, &self.user.backend, cache),
        )
        .await?;
        self.hold(slot, conn, backend);
        Ok(())
    }

    /// `conn`, to backend `backend`, becomes `slot`'s connection.
    fn hold(&mut self, slot: Slot, conn: Conn, backend: usize) {
        let limit = self.shared.config.load().listen.max_message_size;
        let held = Held {
            conn,
            backend,
            scan: Scanner::new(limit),
            outstanding: 0,
            pending: std::mem::take(&mut self.spare_pending),
            failed: false,
            completed: 0,
            synced: None,
            lsn_due: false,
            wrote: false,
            fatal: None,
        };
        match slot {
            Slot::Primary => self.primary = Some(held),
            Slot::Replica => self.replica = Some(held),
        }
    }

    /// The pool of this session's user and database on `backend`.
    fn pool_key(&self, backend: Arc<str>) -> PoolKey {
        PoolKey {
            backend,
            user: self.user_name.clone(),
            database: self.database.clone(),
        }
    }

    /// Reads this database's function volatility from the primary's
    /// `pg_proc` in the background when it is due.
    fn refresh_catalog(&self) {
        let every = self.shared.catalogs.routing().functions_refresh;
        if !self.catalog.claim_refresh(every) {
            return;
        }
        let catalog = self.catalog.clone();
        let shared = self.shared.clone();
        let user = self.user.clone();
        let user_name = self.user_name.clone();
        let database = self.database.clone();
        tokio::spawn(async move {
            let primary = shared.topology.borrow().primary().map(|b| b.addr.clone());
            let Some(backend) = primary else {
                catalog.failed();
                return;
            };
            let key = PoolKey {
                backend,
                user: user_name,
                database,
            };
            let rows = match shared.pools.checkout(&key, &user.backend).await {
                Ok(mut conn) => {
                    conn.simple_query(crate::classify::FunctionTable::PG_PROC_QUERY)
                        .await
                }
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read pg_proc now");
                    catalog.failed();
                    return;
                }
            };
            match rows {
                Ok(rows) => catalog.install(
                    crate::catalog::rows_to_functions(rows),
                    shared.catalogs.routing(),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "reading pg_proc failed; unknown functions count as writes");
                    catalog.failed();
                }
            }
        });
    }

    /// Points CancelRequests at the connection that runs the next request;
    /// the shared slot is touched only when that connection changes.
    fn point_cancel(&mut self, slot: Slot) {
        let Some(h) = self.held(slot) else {
            return;
        };
        let target = (slot, h.conn.key.pid);
        if self.cancel_target == Some(target) {
            return;
        }
        let key = h.conn.key.clone();
        *self.cancel.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(key);
        self.cancel_target = Some(target);
    }

    /// Returns every held connection or discards it. An unpinned session's
    /// idle connections go back as they are: all they carry of it is state
    /// the proxy tracks (`applied`, `prepared`), which the next session's
    /// plan brings in line, so no `DISCARD ALL` round trip is spent. A
    /// pinned session's connections, or ones carrying untracked state, are
    /// reset first.
    fn release_all(&mut self) {
        let as_is = !self.tracked.pinned() && !self.tracked.untracked;
        for slot in [Slot::Primary, Slot::Replica] {
            if let Some(h) = self.take(slot) {
                let done =
                    h.outstanding == 0 && h.conn.tx == TxStatus::Idle && held_scan_clean(&h.conn);
                if as_is && done {
                    drop(h.conn);
                } else {
                    release(h, self.reset_timeout());
                }
            }
        }
    }

    /// How long the reset of a connection given back may take.
    fn reset_timeout(&self) -> Duration {
        self.shared.config.load().pool.reset_timeout
    }
}

/// Back to the pool after `DISCARD ALL` (and `ROLLBACK` of a transaction
/// the client left open) when nothing is owed on it; otherwise cancelled
/// (if busy) and closed. A reset not answered within `limit` (a server
/// partitioned away from this connection alone) closes the connection, so
/// its pool slot is not held for as long as TCP takes to give up.
fn release(held: Held, limit: Duration) {
    let Held {
        conn, outstanding, ..
    } = held;
    tokio::spawn(async move {
        let mut conn = conn;
        // A client gone inside a transaction: roll it back and keep the
        // connection (DISCARD ALL below also forgets its SETs).
        if outstanding == 0 && held_scan_clean(&conn) {
            match tokio::time::timeout(limit, reset(&mut conn)).await {
                Ok(true) => {
                    conn.applied.clear();
                    conn.prepared.clear();
                    return;
                }
                Ok(false) => {}
                Err(_) => tracing::warn!(
                    backend = %conn.addr,
                    "reset of a connection given back not answered within {limit:?}; closing it"
                ),
            }
        } else if outstanding > 0 {
            if let Err(e) = crate::cancel::send(&conn.key).await {
                tracing::debug!(error = %e, "cancel of abandoned request failed");
            }
        }
        conn.discard();
    });
}

/// `ROLLBACK` if a transaction is open, then `DISCARD ALL`: true when
/// the connection is clean.
async fn reset(conn: &mut BackendConn) -> bool {
    if conn.tx != TxStatus::Idle {
        let rolled_back = conn.simple_query("ROLLBACK").await.is_ok();
        if !rolled_back || conn.tx != TxStatus::Idle {
            return false;
        }
    }
    match conn.simple_query("DISCARD ALL").await {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(error = %e, "reset failed; closing connection");
            false
        }
    }
}

/// Nothing half-read is left in the buffer.
fn held_scan_clean(conn: &BackendConn) -> bool {
    conn.rbuf.is_empty()
}
