//! The relay loop: client requests in, routed to a backend connection;
//! backend replies out, forwarded in chunks after scanning frame headers.
//!
//! The routing unit is a simple Query, or an extended-protocol batch up to
//! Sync (a Flush sends what has been gathered and keeps the batch on that
//! backend until its Sync). Replies must reach the client in request order,
//! so a request for another backend waits until every reply owed by the
//! current one has arrived.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;

use super::batch::BatchInfo;
use super::sync::Tidy;
use super::tx_log::Outcome;
use super::{Effect, EnsureError, Held, Session, SessionError, Slot};
use crate::backend::statements::Kept;
use crate::classify::Classification;
use crate::error::{BackendError, ClientError};
use crate::protocol::messages;
use crate::protocol::scan::{Event, Scanner};
use crate::protocol::{tag, ProtocolError, TxStatus};
use crate::signal::Armed;

/// An extended-protocol batch larger than this is sent before its Sync
/// arrives, so a long pipeline never sits in the proxy's memory.
const BATCH_SEND_AT: usize = 256 * 1024;

/// Relay state that lives only while the loop runs.
pub(super) struct Relay {
    client_scan: Scanner,
    /// Extended-protocol messages gathered for the next send.
    pub batch: BytesMut,
    /// What the gathered messages need and change.
    pub info: BatchInfo,
    pub effect: Option<Box<Effect>>,
    /// Execute messages gathered since the last Sync: the statement a
    /// bound statement's steps are in (`request::merge`).
    pub executes: usize,
    /// Where the unnamed statement was last parsed, and what it is.
    pub last_unnamed: Option<Unnamed>,
    /// `[pool] auto_prepare` when the session started.
    pub auto_prepare: bool,
    /// Scratch space for a batch rewritten as it is sent (`auto_prepare`).
    pub spare: BytesMut,
    /// Statements kept for unnamed ones by the parts of the batch sent
    /// since the last Sync: the request that ends it settles them.
    pub kept: Kept,
    /// A batch partly sent (Flush, or size) stays on this backend until Sync.
    pub open: Option<Slot>,
    /// After a failure inside a batch: drop messages until Sync, like the server.
    pub skip_to_sync: bool,
    /// The backend in COPY FROM STDIN: client CopyData streams to it.
    pub copy_in: Option<Slot>,
    /// Set when a backend was lost inside a transaction: the next request fails.
    pub lost_tx: Option<String>,
    /// When the oldest request still owed a ReadyForQuery was sent (metrics).
    pub sent_at: Option<Instant>,
    /// `[listen] idle_in_transaction_timeout` when the session started.
    pub idle_tx_limit: Option<std::time::Duration>,
    /// Per ReadyForQuery relayed in one read: what the request changed
    /// and how it ended (kept to reuse its allocation).
    pub done: Vec<(Option<Box<Effect>>, Outcome)>,
}

/// The client's unnamed statement.
pub(super) struct Unnamed {
    /// The backend it was parsed on.
    pub slot: Slot,
    pub class: Arc<Classification>,
    /// The statement it is on that backend's connection, when the proxy
    /// keeps it under its server name (`auto_prepare`).
    pub server: Option<u64>,
}

impl Relay {
    /// The statement the client's `""` names on `slot`'s connection, when
    /// the proxy keeps it there (`auto_prepare`).
    pub(super) fn carry(&self, slot: Slot) -> Option<u64> {
        self.last_unnamed
            .as_ref()
            .filter(|u| u.slot == slot)
            .and_then(|u| u.server)
    }

    /// What a request for `slot` lets its connection close first: its
    /// uncertain statements unless a batch is open there, sparing the one
    /// the client's `""` names.
    pub(super) fn tidy(&self, slot: Slot) -> Tidy {
        Tidy {
            allowed: self.open != Some(slot),
            except: self.carry(slot),
        }
    }

    /// A simple Query drops the unnamed statement of the connection it
    /// runs on.
    pub(super) fn unnamed_dropped(&mut self, slot: Slot) {
        if let Some(u) = self.last_unnamed.as_mut().filter(|u| u.slot == slot) {
            u.server = None;
        }
    }

    /// The effect of the batch that ends here (at the client's Sync, or
    /// the proxy's own before a request elsewhere), marked when it held
    /// several Executes; the count starts again for the next batch. A
    /// batch that is dropped takes its effect out the same way, unused.
    pub(super) fn take_effect(&mut self) -> Option<Box<Effect>> {
        let mut effect = self.effect.take();
        if let Some(e) = &mut effect {
            e.several = self.executes > 1;
        }
        self.executes = 0;
        effect
    }
}

pub(super) enum Flow {
    Continue,
    /// The next request must wait for replies owed by the other backend.
    Blocked,
    Terminate,
}

enum Wake {
    Client(std::io::Result<usize>),
    Backend(Slot, std::io::Result<usize>),
    /// Draining, and this session owes nothing: tell the client and close.
    Drain,
    /// Idle inside a transaction longer than the limit.
    IdleInTransaction,
    /// A backend a request is in flight on may have stopped being the
    /// primary or gone down.
    Abandon,
}

async fn read_held(h: &mut Option<Held>) -> std::io::Result<usize> {
    match h {
        Some(h) => {
            let c = &mut *h.conn;
            if c.rbuf.capacity() - c.rbuf.len() < 4096 {
                c.rbuf.reserve(32 * 1024);
            }
            c.stream.read_buf(&mut c.rbuf).await
        }
        None => std::future::pending().await,
    }
}

impl Session {
    pub async fn run(mut self) -> Result<(), SessionError> {
        let result = self.relay().await;
        self.release_all();
        if matches!(
            result,
            Err(SessionError::Client(
                ClientError::Protocol(_) | ClientError::Shutdown | ClientError::IdleInTransaction
            ))
        ) {
            // Best effort: the FATAL message explaining why we hang up.
            let _ = self.client.flush().await;
        }
        match result {
            Err(SessionError::Client(ClientError::Closed | ClientError::Shutdown)) => Ok(()),
            other => other,
        }
    }

    async fn relay(&mut self) -> Result<(), SessionError> {
        let (max_message, idle_tx_limit, auto_prepare) = {
            let config = self.shared.config.load();
            let l = &config.listen;
            (
                l.max_message_size,
                l.idle_in_transaction_timeout,
                config.pool.auto_prepare,
            )
        };
        let mut st = Relay {
            client_scan: Scanner::new(max_message),
            batch: BytesMut::new(),
            info: BatchInfo::default(),
            effect: None,
            executes: 0,
            last_unnamed: None,
            auto_prepare,
            spare: BytesMut::new(),
            kept: Kept::default(),
            open: None,
            skip_to_sync: false,
            copy_in: None,
            lost_tx: None,
            sent_at: None,
            idle_tx_limit,
            done: Vec::new(),
        };
        self.release_idle(&st);
        // Shared signals, registered once rather than on every wake-up
        // (`signal`); `abandon` is re-armed each time it fires (a
        // failover, a backend down).
        let shared = self.shared.clone();
        let mut drain = Armed::new(shared.drain.notified());
        let mut abandon = Armed::new(shared.abandon.notified());
        let mut abandon_seen = shared.abandon.count();
        loop {
            let blocked = match self.process_client(&mut st).await? {
                Flow::Terminate => return Ok(()),
                Flow::Blocked => true,
                Flow::Continue => false,
            };
            self.shared.metrics.bytes_out(self.client.wbuf.len());
            self.client.flush().await?;
            let quiet = self.quiet(&st);
            let idle_tx = self.idle_in_transaction_limit(&st);
            let awaiting = [&self.primary, &self.replica]
                .iter()
                .any(|h| h.as_ref().is_some_and(|h| h.outstanding > 0));
            let Session {
                client,
                primary,
                replica,
                ..
            } = self;
            if client.rbuf.capacity() - client.rbuf.len() < 1024 {
                client.rbuf.reserve(8 * 1024);
            }
            // Biased: replies first (they free the client's next request),
            // and no random branch order to compute on every wake-up.
            let wake = tokio::select! {
                biased;
                r = read_held(primary) => Wake::Backend(Slot::Primary, r),
                r = read_held(replica) => Wake::Backend(Slot::Replica, r),
                r = client.stream.read_buf(&mut client.rbuf), if !blocked => Wake::Client(r),
                _ = poll_fn(|cx| drain.poll_fired(cx, shared.drain.fired())), if quiet => {
                    Wake::Drain
                }
                _ = poll_fn(|cx| abandon.poll_fired(cx, shared.abandon.count() != abandon_seen)),
                    if awaiting => Wake::Abandon,
                _ = super::limits::idle_timer(idle_tx) => Wake::IdleInTransaction,
            };
            match wake {
                Wake::Drain => return Err(self.terminate_idle().into()),
                Wake::IdleInTransaction => return Err(self.idle_in_transaction_expired().into()),
                Wake::Abandon => {
                    abandon_seen = shared.abandon.count();
                    abandon.rearm(shared.abandon.notified());
                    self.abandon_in_flight(&mut st);
                }
                Wake::Client(Ok(0)) => return Err(ClientError::Closed.into()),
                Wake::Client(Ok(n)) => self.shared.metrics.bytes_in(n),
                Wake::Client(Err(e)) => return Err(ClientError::Io(e).into()),
                Wake::Backend(slot, Ok(n)) if n > 0 => {
                    self.relay_backend(&mut st, slot)?;
                }
                Wake::Backend(slot, r) => {
                    let addr = self
                        .held(slot)
                        .map(|h| h.conn.addr.to_string())
                        .unwrap_or_default();
                    let e = match r {
                        Err(source) => BackendError::Io { addr, source },
                        Ok(_) => BackendError::Closed { addr },
                    };
                    self.backend_lost(&mut st, slot, &e);
                }
            }
        }
    }

    /// Dispatches every complete client message that may go now.
    async fn process_client(&mut self, st: &mut Relay) -> Result<Flow, SessionError> {
        loop {
            let copying = st.copy_in.is_some();
            let event = st
                .client_scan
                .next(&self.client.rbuf, 0, |t| !(copying && t == tag::COPY_DATA))
                .map_err(|e| self.protocol_error(e))?;
            match event {
                Event::NeedMore { need } => {
                    let have = self.client.rbuf.len();
                    self.client.rbuf.reserve(need.saturating_sub(have));
                    return Ok(Flow::Continue);
                }
                Event::Pass { end } => {
                    // CopyData streaming through without being held whole.
                    let data = self.client.rbuf.split_to(end);
                    self.forward_copy(st, &data).await?;
                }
                Event::Whole { tag: t, end, .. } => {
                    if let Some(flow) = self.on_client_message(st, t, end).await? {
                        return Ok(flow);
                    }
                }
            }
        }
    }

    async fn on_client_message(
        &mut self,
        st: &mut Relay,
        t: u8,
        end: usize,
    ) -> Result<Option<Flow>, SessionError> {
        match t {
            tag::QUERY | tag::FUNCTION_CALL => {
                if let Some(msg) = st.lost_tx.take() {
                    self.client.rbuf.advance(end);
                    self.reply_error("08006", &msg, true);
                    return Ok(None);
                }
                if t == tag::QUERY {
                    return self.on_query(st, end).await;
                }
                return self.on_function_call(st, end).await;
            }
            tag::PARSE | tag::BIND | tag::DESCRIBE | tag::EXECUTE | tag::CLOSE => {
                if st.skip_to_sync {
                    self.client.rbuf.advance(end);
                    return Ok(None);
                }
                if let Some(msg) = st.lost_tx.take() {
                    self.client.rbuf.advance(end);
                    self.reply_error("08006", &msg, false);
                    st.skip_to_sync = true;
                    return Ok(None);
                }
                if st.batch.len() + end > BATCH_SEND_AT {
                    if let Some(flow) = self.flush_batch(st, 0).await? {
                        return Ok(Some(flow));
                    }
                }
                if let Err(e) = self.gather(st, t, end) {
                    return Err(self.protocol_error(e).into());
                }
            }
            tag::SYNC | tag::FLUSH => {
                let sync = t == tag::SYNC;
                if st.skip_to_sync {
                    self.client.rbuf.advance(end);
                    if sync {
                        st.skip_to_sync = false;
                        // What the dropped batch would have changed never ran.
                        st.take_effect();
                        st.kept = Kept::default();
                        messages::ready_for_query(&mut self.client.wbuf, self.tx.byte());
                    }
                    return Ok(None);
                }
                // The Sync/Flush leaves the client's buffer only once the
                // batch is sent; until then a retry finds it there.
                let keep = st.batch.len();
                st.batch.extend_from_slice(&self.client.rbuf[..end]);
                if let Some(flow) = self.flush_batch(st, usize::from(sync)).await? {
                    st.batch.truncate(keep);
                    return Ok(Some(flow));
                }
                self.client.rbuf.advance(end);
            }
            tag::COPY_DATA | tag::COPY_DONE | tag::COPY_FAIL => {
                let frame = self.client.rbuf.split_to(end);
                self.forward_copy(st, &frame).await?;
                if t != tag::COPY_DATA {
                    st.copy_in = None;
                }
            }
            tag::TERMINATE => return Ok(Some(Flow::Terminate)),
            other => {
                return Err(self
                    .protocol_error(ProtocolError::UnexpectedTag(other as char))
                    .into())
            }
        }
        Ok(None)
    }

    /// Replies must come back in request order: another backend may take a
    /// request only when the one before has answered everything.
    pub(super) fn may_send(&self, st: &Relay, slot: Slot) -> bool {
        let other = match slot {
            Slot::Primary => Slot::Replica,
            Slot::Replica => Slot::Primary,
        };
        let other_busy = self.held(other).is_some_and(|h| h.outstanding > 0);
        let open_elsewhere = st.open.is_some_and(|s| s != slot);
        !(other_busy || open_elsewhere)
    }

    /// Sends a request to a connection made ready by `prepare`. `owed` is
    /// the number of ReadyForQuery replies it will produce (0 or 1), and
    /// `effect` what it changes once it succeeds.
    pub(super) async fn send(
        &mut self,
        st: &mut Relay,
        slot: Slot,
        data: &[u8],
        owed: usize,
        effect: Option<Box<Effect>>,
    ) -> Result<(), SessionError> {
        self.point_cancel(slot);
        let Some(h) = self.held_mut(slot) else {
            return Ok(());
        };
        if owed > 0 {
            let extended = data.last_chunk::<5>() == Some(&[tag::SYNC, 0, 0, 0, 4]);
            h.pending.push_back(super::Pending {
                extended,
                effect,
                swallow: false,
                own_sync: false,
                kept: std::mem::take(&mut st.kept),
            });
        }
        match h.conn.write_all(data).await {
            Ok(()) => {
                h.outstanding += owed;
                if owed > 0 {
                    st.sent_at.get_or_insert_with(Instant::now);
                }
                Ok(())
            }
            Err(e) => {
                // Count the request as owed so the client gets its answer.
                if let Some(h) = self.held_mut(slot) {
                    h.outstanding += owed;
                }
                if owed == 0 {
                    st.open = Some(slot);
                }
                self.backend_lost(st, slot, &e);
                Ok(())
            }
        }
    }

    pub(super) fn request_failed(&mut self, st: &mut Relay, e: &EnsureError, ends_request: bool) {
        let (code, message) = e.client_error();
        tracing::warn!(error = %e, "request failed before reaching a backend");
        self.reply_error(&code, &message, ends_request);
        if !ends_request {
            st.skip_to_sync = true;
        }
        st.open = None;
    }

    /// An ErrorResponse, and the ReadyForQuery that ends the request if it does.
    pub(super) fn reply_error(&mut self, code: &str, message: &str, ends_request: bool) {
        messages::error(&mut self.client.wbuf, "ERROR", code, message);
        if ends_request {
            messages::ready_for_query(&mut self.client.wbuf, self.tx.byte());
        }
    }

    async fn forward_copy(&mut self, st: &mut Relay, data: &[u8]) -> Result<(), SessionError> {
        // asyncpg sends its COPY data right behind the COPY query, without
        // waiting for CopyInResponse: before it arrives the data goes where
        // the query went. A server not in COPY ignores CopyData, CopyDone
        // and CopyFail (so does the proxy when nothing is in flight).
        let busy = [Slot::Primary, Slot::Replica]
            .into_iter()
            .find(|&s| self.held(s).is_some_and(|h| h.outstanding > 0));
        let Some(slot) = st.copy_in.or(busy) else {
            return Ok(());
        };
        let Some(h) = self.held_mut(slot) else {
            return Ok(());
        };
        if let Err(e) = h.conn.write_all(data).await {
            self.backend_lost(st, slot, &e);
        }
        Ok(())
    }

    /// Nothing is owed either way, no transaction is open and no request is
    /// half-read: the session may end without losing anything.
    fn quiet(&self, st: &Relay) -> bool {
        let owed = |h: &Option<Held>| h.as_ref().is_some_and(|h| h.outstanding > 0);
        self.tx == TxStatus::Idle
            && !owed(&self.primary)
            && !owed(&self.replica)
            && st.open.is_none()
            && st.batch.is_empty()
            && st.copy_in.is_none()
            && self.client.rbuf.is_empty()
    }

    /// Graceful shutdown of an idle session, as PostgreSQL does it.
    fn terminate_idle(&mut self) -> ClientError {
        messages::error(
            &mut self.client.wbuf,
            "FATAL",
            "57P01",
            "terminating connection due to administrator command",
        );
        ClientError::Shutdown
    }

    pub(super) fn protocol_error(&mut self, e: ProtocolError) -> ClientError {
        messages::error(
            &mut self.client.wbuf,
            "FATAL",
            "08P01",
            &format!("pgsplit: {e}"),
        );
        ClientError::Protocol(e)
    }
}
