//! auth_query: the SCRAM verifier of a user not in `[[users]]`, fetched from
//! the current primary with `[auth] query` and kept for `cache_ttl`. The
//! user then logs in like a verifier-only `[[users]]` entry (pass-through).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::passthrough::Verifier;
use super::{BackendAuth, UserEntry};
use crate::backend::{self, ConnectParams};
use crate::config::AuthQuery;
use crate::error::BackendError;
use crate::protocol::messages::{put_cstr, put_frame};
use crate::protocol::tag;
use crate::tls::backend::BackendTls;

/// Where the query runs: the primary's address and its TLS settings.
pub struct Primary {
    pub addr: Arc<str>,
    pub tls: Option<Arc<BackendTls>>,
}

struct Cached {
    at: Instant,
    entry: Option<Arc<UserEntry>>,
}

/// Fetched users by name (also "no such user", so unknown names cannot
/// make pgsplit query the primary at will).
#[derive(Default)]
pub struct AuthCache {
    users: Mutex<HashMap<String, Cached>>,
}

/// Bounds the cache; past it, expired entries are dropped first, then all.
const MAX_CACHED: usize = 10_000;

impl AuthCache {
    /// The user's entry: cached, or fetched from `primary`. `Ok(None)`: the
    /// query knows no such user, or its password is not a SCRAM verifier.
    pub async fn lookup(
        &self,
        settings: &AuthQuery,
        primary: Option<Primary>,
        user: &str,
        timeout: Duration,
    ) -> Result<Option<Arc<UserEntry>>, String> {
        let previous = {
            let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
            match users.get(user) {
                Some(c) if c.at.elapsed() < settings.cache_ttl => return Ok(c.entry.clone()),
                Some(c) => c.entry.clone(),
                None => None,
            }
        };
        let primary = primary.ok_or("no primary is known to run the auth_query on".to_string())?;
        let fetched = fetch(settings, &primary, user, timeout)
            .await
            .map_err(|e| e.to_string())?;
        let entry = fetched.map(|v| match previous {
            // Same verifier: keep the entry, and with it the ClientKey that
            // pooled connections log in with.
            Some(old) if old.verifier() == Some(&v) => old,
            _ => Arc::new(UserEntry::from_verifier(user, v)),
        });
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if users.len() >= MAX_CACHED {
            users.retain(|_, c| c.at.elapsed() < settings.cache_ttl);
            if users.len() >= MAX_CACHED {
                users.clear();
            }
        }
        users.insert(
            user.to_owned(),
            Cached {
                at: Instant::now(),
                entry: entry.clone(),
            },
        );
        Ok(entry)
    }
}

/// Runs the query (extended protocol: the user name is a parameter, never
/// spliced into SQL) on a connection of its own.
async fn fetch(
    settings: &AuthQuery,
    primary: &Primary,
    user: &str,
    timeout: Duration,
) -> Result<Option<Verifier>, BackendError> {
    let params = ConnectParams {
        addr: primary.addr.clone(),
        user: settings.query_user.clone(),
        auth: BackendAuth::password(&settings.password().unwrap_or_default()),
        database: settings.query_database.clone(),
        startup: vec![("application_name".into(), "pgsplit-auth-query".into())],
        timeout,
        tls: primary.tls.clone(),
    };
    let mut conn = backend::connect(&params).await?;
    let mut out = BytesMut::new();
    put_frame(&mut out, tag::PARSE, |b| {
        put_cstr(b, "");
        put_cstr(b, &settings.query);
        b.extend_from_slice(&0u16.to_be_bytes());
    });
    put_frame(&mut out, tag::BIND, |b| {
        put_cstr(b, "");
        put_cstr(b, "");
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&(user.len() as u32).to_be_bytes());
        b.extend_from_slice(user.as_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
    });
    put_frame(&mut out, tag::EXECUTE, |b| {
        put_cstr(b, "");
        b.extend_from_slice(&0u32.to_be_bytes());
    });
    put_frame(&mut out, tag::SYNC, |_| {});
    let rows = tokio::time::timeout(timeout, conn.exchange(&out))
        .await
        .map_err(|_| BackendError::Timeout {
            addr: primary.addr.to_string(),
            what: "auth_query",
        })??;
    let mut terminate = BytesMut::new();
    crate::protocol::messages::terminate(&mut terminate);
    let _ = conn.write_all(&terminate).await;
    let password = rows
        .into_iter()
        .find(|r| r.first().and_then(|u| u.as_deref()) == Some(user))
        .and_then(|r| r.into_iter().nth(1).flatten());
    Ok(password.and_then(|p| Verifier::parse(&p).ok()))
}
