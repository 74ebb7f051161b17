//! One pool of backend connections (one backend, user and database):
//! idle connections on a stack, clients waiting for one in a queue.
//!
//! The most recently returned connection is reused first (its server
//! process and buffers are warm; connections beyond what the load needs go
//! idle and are reaped). Waiters are served first come, first served: a
//! connection given back goes straight to the oldest waiter, and when a
//! connection closes, its place goes to the oldest waiter, who opens a new
//! one. Taking a free connection touches no timer and no clock, and a
//! give back reads the clock once: waiters' deadlines are enforced by the
//! pools' maintenance tick (`maintain.rs`), not by a timer each.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::conn::Conn;
use super::CheckoutError;
use crate::admin::metrics::Metrics;
use crate::backend::{self, BackendConn, ConnectParams};
use crate::config;
use crate::protocol::TxStatus;

/// Settings a pool follows; replaced on reload.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max: usize,
    pub checkout_timeout: Duration,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub lifetime: Duration,
}

impl From<&config::Pool> for Limits {
    fn from(p: &config::Pool) -> Limits {
        Limits {
            max: p.max_per_backend,
            checkout_timeout: p.checkout_timeout,
            connect_timeout: p.connect_timeout,
            idle_timeout: p.idle_timeout,
            lifetime: p.server_lifetime,
        }
    }
}

/// What a waiter is handed.
enum Handoff {
    /// A connection another client gave back.
    Conn(Box<BackendConn>),
    /// Room for one more connection (already counted in `State::size`):
    /// the waiter opens it.
    Room,
}

struct Waiter {
    tx: oneshot::Sender<Handoff>,
    /// Past this, the maintenance tick drops the sender: the checkout
    /// fails with 53300.
    deadline: Instant,
}

struct Idle {
    conn: Box<BackendConn>,
    since: Instant,
}

struct State {
    limits: Limits,
    /// Most recently given back last.
    idle: Vec<Idle>,
    /// Oldest first. A waiter that gave up leaves a closed sender behind,
    /// skipped when reached.
    waiters: VecDeque<Waiter>,
    /// Connections open or being opened, idle or not.
    size: usize,
    /// Forgotten by the registry: nothing is pooled or handed out any more.
    closed: bool,
}

pub struct Pool {
    pub(super) params: ConnectParams,
    state: Mutex<State>,
}

/// Counts of one pool, for status and metrics.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub size: usize,
    pub idle: usize,
    pub waiting: usize,
    pub max: usize,
}

impl Pool {
    pub fn new(params: ConnectParams, limits: Limits) -> Pool {
        Pool {
            params,
            state: Mutex::new(State {
                limits,
                idle: Vec::new(),
                waiters: VecDeque::new(),
                size: 0,
                closed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A free connection if there is one, else room to open one, else a
    /// place in the queue until one is given back or closes.
    pub async fn checkout(self: &Arc<Pool>, metrics: &Metrics) -> Result<Conn, CheckoutError> {
        loop {
            let next = {
                let mut s = self.lock();
                if s.closed {
                    return Err(CheckoutError::Closed(self.params.addr.clone()));
                }
                if let Some(idle) = s.idle.pop() {
                    Next::Idle(idle.conn)
                } else if s.size < s.limits.max {
                    s.size += 1;
                    Next::Open(s.limits.connect_timeout)
                } else {
                    let (tx, rx) = oneshot::channel();
                    let began = Instant::now();
                    let deadline = began + s.limits.checkout_timeout;
                    s.waiters.push_back(Waiter { tx, deadline });
                    let queued = Queued {
                        rx,
                        pool: self.clone(),
                    };
                    Next::Wait(queued, began, s.limits)
                }
            };
            let (queued, began, limits) = match next {
                Next::Idle(conn) if usable(&conn) => {
                    metrics.checkout_wait(Duration::ZERO);
                    return Ok(Conn::new(conn, self.clone()));
                }
                Next::Idle(conn) => {
                    self.discard(conn);
                    continue;
                }
                Next::Open(timeout) => {
                    metrics.checkout_wait(Duration::ZERO);
                    return self.open(Room::new(self), timeout).await;
                }
                Next::Wait(queued, began, limits) => (queued, began, limits),
            };
            let got = {
                let _waiting = metrics.checkout_waiting();
                queued.wait().await
            };
            metrics.checkout_wait(began.elapsed());
            return match got {
                Some(Handoff::Conn(conn)) => Ok(Conn::new(conn, self.clone())),
                Some(Handoff::Room) => self.open(Room::new(self), limits.connect_timeout).await,
                None if self.lock().closed => Err(CheckoutError::Closed(self.params.addr.clone())),
                None => Err(CheckoutError::Timeout {
                    backend: self.params.addr.clone(),
                    waited: limits.checkout_timeout,
                    max: limits.max,
                }),
            };
        }
    }

    /// The idle connection of server process `pid`, if no other session
    /// took it since it was handed out for the `lent`-th time.
    pub fn reclaim(self: &Arc<Pool>, pid: u32, lent: u64) -> Option<Conn> {
        let conn = {
            let mut s = self.lock();
            let i = s
                .idle
                .iter()
                .position(|i| i.conn.key.pid == pid && i.conn.lent == lent)?;
            s.idle.remove(i).conn
        };
        if usable(&conn) {
            Some(Conn::new(conn, self.clone()))
        } else {
            self.discard(conn);
            None
        }
    }

    /// Opens a connection in the room reserved for it.
    async fn open(
        self: &Arc<Pool>,
        room: Room<'_>,
        timeout: Duration,
    ) -> Result<Conn, CheckoutError> {
        let params = ConnectParams {
            timeout,
            ..self.params.clone()
        };
        // Boxed: the connect future (TLS, SCRAM) is large, and inline it
        // would make every checkout's future as large.
        let conn = Box::pin(backend::connect(&params)).await?;
        room.used();
        Ok(Conn::new(Box::new(conn), self.clone()))
    }

    /// A connection comes back: to the oldest waiter, else onto the idle
    /// stack; closed instead when it cannot serve another client.
    pub(super) fn give_back(&self, mut conn: Box<BackendConn>) {
        let now = Instant::now();
        let mut s = self.lock();
        let expired = now.saturating_duration_since(conn.created) >= s.limits.lifetime;
        let keep = !s.closed
            && !expired
            && s.size <= s.limits.max
            && conn.tx == TxStatus::Idle
            && conn.rbuf.is_empty();
        if !keep {
            if expired {
                tracing::debug!(backend = %conn.addr, "closing a connection past server_lifetime");
            }
            drop(s);
            return self.discard(conn);
        }
        while let Some(w) = s.waiters.pop_front() {
            match w.tx.send(Handoff::Conn(conn)) {
                Ok(()) => return,
                Err(Handoff::Conn(c)) => conn = c,
                Err(Handoff::Room) => unreachable!("sent a connection"),
            }
        }
        s.idle.push(Idle { conn, since: now });
    }

    /// A connection closes: its room goes to the oldest waiter.
    pub(super) fn discard(&self, conn: Box<BackendConn>) {
        self.free_room();
        drop(conn);
    }

    fn free_room(&self) {
        let mut s = self.lock();
        if !s.closed && s.size <= s.limits.max {
            while let Some(w) = s.waiters.pop_front() {
                if w.tx.send(Handoff::Room).is_ok() {
                    return;
                }
            }
        }
        s.size -= 1;
    }

    /// Fails the checkouts that waited past their deadline (53300) and
    /// forgets the places of clients that gave up.
    pub fn expire_waiters(&self, now: Instant) {
        let expired: VecDeque<Waiter> = {
            let mut s = self.lock();
            if s.waiters.is_empty() {
                return;
            }
            let (gone, kept) = std::mem::take(&mut s.waiters)
                .into_iter()
                .partition(|w| w.deadline <= now || w.tx.is_closed());
            s.waiters = kept;
            gone
        };
        drop(expired);
    }

    /// Closes idle connections past `idle_timeout` or `server_lifetime`.
    pub fn reap(&self, now: Instant) {
        self.close_idle(|i, l| {
            now.saturating_duration_since(i.since) >= l.idle_timeout
                || now.saturating_duration_since(i.conn.created) >= l.lifetime
        });
    }

    /// Closes every idle connection (a failover, a fence, new settings).
    pub fn clear(&self) {
        self.close_idle(|_, _| true);
    }

    fn close_idle(&self, close: impl Fn(&Idle, &Limits) -> bool) {
        let gone: Vec<Idle> = {
            let mut s = self.lock();
            let limits = s.limits;
            let (gone, kept) = std::mem::take(&mut s.idle)
                .into_iter()
                .partition(|i| close(i, &limits));
            s.idle = kept;
            s.size -= gone.len();
            gone
        };
        drop(gone);
    }

    /// Forgotten by the registry: idle connections close, waiters are told
    /// (they try the registry's new pool), connections in use close when
    /// given back.
    pub fn close(&self) {
        let waiters = {
            let mut s = self.lock();
            s.closed = true;
            std::mem::take(&mut s.waiters)
        };
        drop(waiters);
        self.clear();
    }

    /// New limits; a larger pool lets waiters open connections at once, a
    /// smaller one shrinks as connections come back.
    pub fn set_limits(&self, limits: Limits) {
        let mut s = self.lock();
        s.limits = limits;
        while s.size < s.limits.max {
            let Some(w) = s.waiters.pop_front() else {
                break;
            };
            if w.tx.send(Handoff::Room).is_ok() {
                s.size += 1;
            }
        }
    }

    pub fn counts(&self) -> Counts {
        let s = self.lock();
        Counts {
            size: s.size,
            idle: s.idle.len(),
            waiting: s.waiters.iter().filter(|w| !w.tx.is_closed()).count(),
            max: s.limits.max,
        }
    }
}

enum Next {
    Idle(Box<BackendConn>),
    Open(Duration),
    Wait(Queued, Instant, Limits),
}

/// A server that ended an idle connection (restart, idle timeout, admin
/// kill) has left EOF or a FATAL message in its socket: such a connection
/// is never handed to a client.
fn usable(conn: &BackendConn) -> bool {
    let mut probe = [0u8; 1];
    // (On TLS this reads the raw socket under rustls: anything there now is
    // unasked-for, and the connection is dropped either way.)
    matches!(conn.stream.tcp().try_read(&mut probe),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// A place in a pool's queue. Dropped unserved (timeout, or the client
/// left while waiting), it passes on what it was handed meanwhile, so
/// nothing is lost.
struct Queued {
    rx: oneshot::Receiver<Handoff>,
    pool: Arc<Pool>,
}

impl Queued {
    /// What the queue hands over; `None` when the place expired or the
    /// pool closed.
    async fn wait(mut self) -> Option<Handoff> {
        (&mut self.rx).await.ok()
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.rx.close();
        match self.rx.try_recv() {
            Ok(Handoff::Conn(conn)) => self.pool.give_back(conn),
            Ok(Handoff::Room) => self.pool.free_room(),
            Err(_) => {}
        }
    }
}

/// Room reserved for a connection being opened; given up when the open
/// fails or the client leaves meanwhile.
struct Room<'a> {
    pool: Option<&'a Pool>,
}

impl<'a> Room<'a> {
    fn new(pool: &'a Pool) -> Room<'a> {
        Room { pool: Some(pool) }
    }

    /// The connection is open and counted.
    fn used(mut self) {
        self.pool = None;
    }
}

impl Drop for Room<'_> {
    fn drop(&mut self) {
        if let Some(pool) = self.pool {
            pool.free_room();
        }
    }
}
