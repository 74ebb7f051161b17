//! One client session: handshake, then the relay loop.
//!
//! A session holds at most one backend connection per [`Slot`] (the primary
//! and one replica). Connections come from the pools and go back to them,
//! reset, when the session ends.

pub mod client;
pub mod handshake;
mod relay;
pub mod settings;

use std::sync::Arc;

use crate::auth::UserEntry;
use crate::backend::BackendConn;
use crate::cancel::Registration;
use crate::error::{BackendError, ClientError};
use crate::pool::{CheckoutError, Conn, PoolKey};
use crate::protocol::scan::Scanner;
use crate::protocol::TxStatus;
use crate::shared::Shared;

use client::ClientConn;

/// Which of the session's backend connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Primary,
    Replica,
}

/// A backend connection the session holds, with its relay state.
pub struct Held {
    pub conn: Conn,
    /// Index of the backend in the topology.
    pub backend: usize,
    pub scan: Scanner,
    /// ReadyForQuery messages still owed for requests sent.
    pub outstanding: usize,
}

/// Why a request could not get a backend connection.
#[derive(Debug, thiserror::Error)]
pub enum EnsureError {
    #[error("pgsplit: no primary is available")]
    NoPrimary,
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl EnsureError {
    /// SQLSTATE and message for the client.
    pub fn client_error(&self) -> (String, String) {
        match self {
            EnsureError::NoPrimary => ("08006".into(), self.to_string()),
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
    database: String,
    /// Startup settings made true on every backend connection.
    settings: Vec<(String, String)>,
    primary: Option<Held>,
    replica: Option<Held>,
    /// From the last ReadyForQuery relayed.
    tx: TxStatus,
    cancel: Registration,
    cancel_target: Option<(Slot, u32)>,
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
        Session {
            client,
            shared,
            user,
            database,
            settings,
            primary: None,
            replica: None,
            tx: TxStatus::Idle,
            cancel,
            cancel_target: None,
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

    /// The slot whose connection opens the session.
    fn startup_slot(&self) -> Slot {
        Slot::Primary
    }

    /// Makes sure `slot` holds a connection to the backend the topology
    /// names for it now, with the session's settings applied.
    async fn ensure(&mut self, slot: Slot) -> Result<(), EnsureError> {
        let topology = self.shared.topology.borrow().clone();
        let backend = match slot {
            Slot::Primary => topology.primary.ok_or(EnsureError::NoPrimary)?,
            Slot::Replica => return Err(EnsureError::NoPrimary),
        };
        // Compared by address: a reload may renumber the backends.
        if let Some(h) = self.held_mut(slot) {
            if h.conn.addr == topology.backends[backend].addr {
                h.backend = backend;
                return Ok(());
            }
        }
        // The role moved to another backend (failover): let the old one go.
        if let Some(old) = self.take(slot) {
            release(old);
        }
        let key = PoolKey {
            backend: topology.backends[backend].addr.clone(),
            user: self.user.name.clone(),
            database: self.database.clone(),
        };
        let mut conn = self
            .shared
            .pools
            .checkout(&key, &self.user.password)
            .await?;
        if let Err(e) = settings::apply(&mut conn, &self.settings).await {
            if e.is_fatal() {
                let _ = deadpool::managed::Object::take(conn);
            }
            return Err(e.into());
        }
        let limit = self.shared.config.load().listen.max_message_size;
        let held = Held {
            conn,
            backend,
            scan: Scanner::new(limit),
            outstanding: 0,
        };
        match slot {
            Slot::Primary => self.primary = Some(held),
            Slot::Replica => self.replica = Some(held),
        }
        Ok(())
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

    /// Returns every held connection (reset first) or discards it.
    fn release_all(&mut self) {
        for slot in [Slot::Primary, Slot::Replica] {
            if let Some(h) = self.take(slot) {
                release(h);
            }
        }
    }
}

/// Back to the pool after `DISCARD ALL` when the connection is idle and
/// clean; otherwise cancelled (if busy) and closed.
fn release(held: Held) {
    let Held {
        conn, outstanding, ..
    } = held;
    tokio::spawn(async move {
        let mut conn = conn;
        let clean = outstanding == 0 && conn.tx == TxStatus::Idle && held_scan_clean(&conn);
        if clean {
            match conn.simple_query("DISCARD ALL").await {
                Ok(_) => {
                    conn.applied.clear();
                    return; // dropped here: back to the pool
                }
                Err(e) => tracing::debug!(error = %e, "reset failed; closing connection"),
            }
        } else if outstanding > 0 {
            if let Err(e) = crate::cancel::send(&conn.key).await {
                tracing::debug!(error = %e, "cancel of abandoned request failed");
            }
        }
        drop(deadpool::managed::Object::take(conn));
    });
}

/// Nothing half-read is left in the buffer.
fn held_scan_clean(conn: &BackendConn) -> bool {
    conn.rbuf.is_empty()
}
