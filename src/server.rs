//! The client listener: accept, enforce `max_clients`, spawn one task per
//! session, stop accepting on shutdown.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::error::ClientError;
use crate::session::client::ClientConn;
use crate::session::handshake::{self, Outcome};
use crate::shared::Shared;

pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(shared.config.listen.max_clients));
    let mut next_id: u64 = 0;
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
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
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let span = tracing::info_span!("session", id = next_id, peer = %peer);
        let client = ClientConn::new(stream, peer);
        let shared = shared.clone();
        let startup_timeout = shared.config.listen.startup_timeout;
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                tracker.spawn(
                    async move {
                        let _permit = permit;
                        let started = tokio::time::timeout(
                            startup_timeout,
                            handshake::handshake(client, shared),
                        )
                        .await
                        .unwrap_or(Err(ClientError::StartupTimeout));
                        match started {
                            Ok(Outcome::Ready(session)) => {
                                tracing::debug!("session started");
                                if let Err(e) = session.run().await {
                                    tracing::info!(error = %e, "session ended");
                                }
                            }
                            Ok(Outcome::Done) => {}
                            Err(ClientError::Closed) => {}
                            Err(e) => tracing::info!(error = %e, "client startup failed"),
                        }
                    }
                    .instrument(span),
                );
            }
            Err(_) => {
                tracker.spawn(
                    async move {
                        tracing::warn!("too many clients: refusing connection");
                        let refused = tokio::time::timeout(
                            startup_timeout,
                            handshake::turn_away(
                                client,
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
}
