//! The client listener: accept, enforce `max_clients`, spawn one task per
//! session, stop accepting (and close the socket) when draining begins.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::field::Empty;
use tracing::Instrument;

use crate::admin::metrics::Refusal;
use crate::error::ClientError;
use crate::session::client::ClientConn;
use crate::session::handshake::{self, Outcome};
use crate::shared::Shared;

/// Accepts until `shared.drain` or `shutdown` fires; sessions are spawned on
/// `sessions` so a drain can wait for exactly them.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    sessions: TaskTracker,
) {
    let mut next_id: u64 = 0;
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = shared.drain.wait() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Keepalive too: a client that vanished without a FIN must not
        // hold its session (and, in session pooling, a server connection).
        let _ = crate::net::tune(&stream);
        next_id += 1;
        let span = tracing::info_span!(
            "session",
            id = next_id,
            peer = %peer,
            user = Empty,
            database = Empty
        );
        let client = ClientConn::new(stream, peer);
        let shared = shared.clone();
        let (max_clients, startup_timeout) = {
            let config = shared.config.load();
            (config.listen.max_clients, config.listen.startup_timeout)
        };
        match shared.clients.try_take(max_clients) {
            Some(slot) => {
                sessions.spawn(
                    async move {
                        let _slot = slot;
                        let _active = shared.metrics.client_accepted();
                        let metrics = shared.metrics.clone();
                        // Each phase's future is boxed: an idle session then
                        // holds only the relay's state, not the handshake's.
                        let started = tokio::time::timeout(
                            startup_timeout,
                            Box::pin(handshake::handshake(client, shared)),
                        )
                        .await
                        .unwrap_or(Err(ClientError::StartupTimeout));
                        match started {
                            Ok(Outcome::Ready(session)) => {
                                tracing::debug!("session started");
                                if let Err(e) = Box::pin(session.run()).await {
                                    tracing::info!(error = %e, "session ended");
                                }
                            }
                            Ok(Outcome::Done) => {}
                            Err(ClientError::Closed) => {}
                            Err(e) => {
                                metrics.client_refused(Refusal::startup);
                                tracing::info!(error = %e, "client startup failed");
                            }
                        }
                    }
                    .instrument(span),
                );
            }
            None => {
                shared.metrics.client_refused(Refusal::too_many);
                sessions.spawn(
                    async move {
                        tracing::warn!("too many clients: refusing connection");
                        let tls = shared.client_tls.load_full();
                        let refused = tokio::time::timeout(
                            startup_timeout,
                            handshake::turn_away(
                                client,
                                &tls,
                                "53300",
                                "sorry, too many clients already",
                            ),
                        )
                        .await;
                        if let Ok(Err(e)) = refused {
                            tracing::debug!(error = %e, "refused client");
                        }
                    }
                    .instrument(span),
                );
            }
        }
    }
    tracing::info!("stopped accepting clients");
}
