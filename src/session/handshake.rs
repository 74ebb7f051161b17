//! Startup phase of a client: TLS or not ([`super::negotiate`]),
//! CancelRequest, protocol negotiation, authentication, the first backend
//! connection, and the ParameterStatus / BackendKeyData / ReadyForQuery that
//! open the session.

use std::sync::Arc;

use crate::admin::metrics::Refusal;
use crate::auth::{self, AuthFailure};
use crate::cancel;
use crate::config::ClientTlsMode;
use crate::error::ClientError;
use crate::protocol::messages;
use crate::protocol::startup::FirstPacket;
use crate::shared::Shared;
use crate::tls::server::ClientTls;

use super::client::ClientConn;
use super::greeting;
use super::negotiate::first_packet;
use super::settings;
use super::sync::{Prep, Tidy};
use super::EnsureError;
use super::Session;

/// What the startup phase ended with.
pub enum Outcome {
    Ready(Box<Session>),
    /// A CancelRequest was handled, or the client was refused with a message.
    Done,
}

pub async fn handshake(client: ClientConn, shared: Arc<Shared>) -> Result<Outcome, ClientError> {
    let tls = shared.client_tls.load_full();
    let (mut client, first) = first_packet(client, &tls).await?;
    let (minor, params) = match first {
        FirstPacket::Cancel { pid, secret } => {
            if let Some(key) = shared.cancels.lookup(pid, &secret) {
                if let Err(e) = cancel::send(&key).await {
                    tracing::warn!(backend = %key.addr, error = %e, "cancel request not delivered");
                }
            }
            return Ok(Outcome::Done);
        }
        FirstPacket::Startup { minor, params } => (minor, params),
        // first_packet answers these itself.
        FirstPacket::SslRequest | FirstPacket::GssEncRequest => return Ok(Outcome::Done),
    };
    if tls.mode == ClientTlsMode::Require && !client.stream.is_tls() {
        // Like PostgreSQL's pg_hba "no encryption" refusal.
        return refuse(
            client,
            &shared,
            "28000",
            "pgsplit: TLS required: connect with sslmode=require (this connection has no encryption)",
        )
        .await;
    }

    let unrecognized: Vec<&str> = params
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.starts_with("_pq_."))
        .collect();
    if minor > 0 || !unrecognized.is_empty() {
        messages::negotiate_protocol_version(&mut client.wbuf, 0, &unrecognized);
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let Some(user) = get("user") else {
        return refuse(
            client,
            &shared,
            "28000",
            "no PostgreSQL user name specified in startup packet",
        )
        .await;
    };
    if get("replication").is_some_and(|v| v != "false" && v != "0" && v != "off") {
        return refuse(
            client,
            &shared,
            "0A000",
            "pgsplit does not proxy replication connections",
        )
        .await;
    }
    let database = get("database")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| user.clone());
    let span = tracing::Span::current();
    span.record("user", user.as_str());
    span.record("database", database.as_str());

    let creds = shared.creds.load_full();
    let known = match creds.get(&user) {
        Some(e) => Some(e),
        None => match lookup(&shared, &user).await {
            Ok(e) => e,
            Err(message) => {
                tracing::warn!(error = %message, "auth_query failed");
                return refuse(
                    client,
                    &shared,
                    "08006",
                    &format!("pgsplit: cannot look up the user (auth_query): {message}"),
                )
                .await;
            }
        },
    };
    let binding = if client.stream.is_tls() {
        tls.channel_binding()
    } else {
        None
    };
    let entry = match auth::authenticate(&mut client, &creds, &user, known, binding).await {
        Ok(e) => e,
        Err(AuthFailure::Rejected) => {
            shared.metrics.client_refused(Refusal::auth);
            tracing::info!("authentication failed");
            // Slows password guessing; only this client's task waits.
            let delay = shared.config.load().listen.auth_failure_delay;
            tokio::time::sleep(delay).await;
            auth::rejected(&mut client.wbuf, &user);
            client.flush().await?;
            return Ok(Outcome::Done);
        }
        Err(AuthFailure::Client(e)) => return Err(e),
    };

    let settings = settings::from_startup(&params);
    let primary = shared
        .topology
        .borrow()
        .primary()
        .map(|b| b.addr.to_string())
        .unwrap_or_default();
    let greeting_key = greeting::Key::new(&primary, &user, &database, &settings);
    let registration = shared.cancels.register();
    let (pid, secret) = (registration.pid, registration.secret);
    let mut session = Session::new(client, shared, entry, database, settings, registration);
    let params = match session.shared.greetings.get(greeting_key) {
        // Known: the first request opens the connection it is routed to.
        Some(params) => params,
        None => {
            // The first backend connection proves the database exists
            // (3D000 comes from the server) and supplies the values.
            let slot = match session
                .prepare(session.startup_slot(), &[], &[], Tidy::NOW)
                .await
            {
                Prep::Ready(slot) => slot,
                other => {
                    // A new connection owes no replies, so it is never busy.
                    let e = match other {
                        Prep::Failed(e) => e,
                        _ => EnsureError::NoPrimary,
                    };
                    session.shared.metrics.client_refused(Refusal::startup);
                    let (code, message) = e.client_error();
                    messages::error(&mut session.client.wbuf, "FATAL", &code, &message);
                    session.client.flush().await?;
                    return Ok(Outcome::Done);
                }
            };
            let params: greeting::Params = session
                .held(slot)
                .map(|h| h.conn.params.clone())
                .unwrap_or_default()
                .into();
            session.shared.greetings.put(greeting_key, params.clone());
            params
        }
    };
    session.refresh_catalog();
    let client = &mut session.client;
    for (k, v) in params.iter() {
        // A session may use a primary and a replica; it is a read-write
        // endpoint either way, so libpq's target_session_attrs keeps working.
        let v = if k == "in_hot_standby" {
            "off"
        } else {
            v.as_str()
        };
        messages::parameter_status(&mut client.wbuf, k, v);
    }
    messages::backend_key_data(&mut client.wbuf, pid, secret);
    messages::ready_for_query(&mut client.wbuf, b'I');
    client.flush().await?;
    Ok(Outcome::Ready(Box::new(session)))
}

/// A user not in `[[users]]`: its verifier by `[auth]` query, if configured.
async fn lookup(shared: &Shared, user: &str) -> Result<Option<Arc<auth::UserEntry>>, String> {
    let config = shared.config.load_full();
    let Some(settings) = &config.auth else {
        return Ok(None);
    };
    let primary = shared.topology.borrow().primary().map(|p| p.addr.clone());
    let primary = primary.map(|addr| auth::query::Primary {
        tls: shared.pools.tls_for(&addr),
        addr,
    });
    shared
        .auth_cache
        .lookup(settings, primary, user, config.pool.connect_timeout)
        .await
}

async fn refuse(
    mut client: ClientConn,
    shared: &Shared,
    code: &str,
    message: &str,
) -> Result<Outcome, ClientError> {
    shared.metrics.client_refused(Refusal::startup);
    tracing::info!(code, message, "client refused at startup");
    messages::error(&mut client.wbuf, "FATAL", code, message);
    client.flush().await?;
    Ok(Outcome::Done)
}

/// Answers a client refused before startup (too many clients): read its
/// startup packet (with TLS if the client asks and it is offered), then
/// send the error.
pub async fn turn_away(
    client: ClientConn,
    tls: &ClientTls,
    code: &str,
    message: &str,
) -> Result<(), ClientError> {
    let (mut client, first) = first_packet(client, tls).await?;
    if let FirstPacket::Startup { .. } = first {
        messages::error(&mut client.wbuf, "FATAL", code, message);
        client.flush().await?;
    }
    Ok(())
}
