//! `[auth]`: where to fetch the SCRAM verifier of a user not in `[[users]]`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthQuery {
    /// Role pgsplit logs in as to run `query` (on the current primary).
    pub query_user: String,
    /// Its plaintext password.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::redact"
    )]
    pub query_password: Option<String>,
    /// Name of an environment variable holding that password instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_password_env: Option<String>,
    /// Returns (user name, pg_authid-style password) for `$1`.
    #[serde(default = "default_query")]
    pub query: String,
    /// Database the query runs in.
    #[serde(default = "default_database")]
    pub query_database: String,
    /// How long a fetched verifier (or "no such user") is reused.
    #[serde(default = "default_cache_ttl", with = "humantime_serde")]
    pub cache_ttl: Duration,
}

fn default_query() -> String {
    "SELECT usename, passwd FROM pgsplit.get_auth($1)".into()
}

fn default_database() -> String {
    "postgres".into()
}

fn default_cache_ttl() -> Duration {
    Duration::from_secs(30)
}

impl std::fmt::Debug for AuthQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthQuery")
            .field("query_user", &self.query_user)
            .field("query_password", &"<redacted>")
            .field("query", &self.query)
            .field("query_database", &self.query_database)
            .field("cache_ttl", &self.cache_ttl)
            .finish()
    }
}

impl AuthQuery {
    /// The query user's password, from the file or the environment.
    pub fn password(&self) -> Option<String> {
        match (&self.query_password, &self.query_password_env) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(var)) => std::env::var(var).ok(),
            (None, None) => None,
        }
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        if self.query_user.is_empty() {
            return Err("[auth] query_user is empty".into());
        }
        match self.password() {
            None => Err("[auth] needs query_password or query_password_env (set)".into()),
            Some(p) if crate::auth::passthrough::Verifier::looks_like(&p) => {
                Err("[auth] query_password must be the plaintext password, not a verifier".into())
            }
            Some(_) if !self.query.contains("$1") => {
                Err("[auth] query must take the user name as $1".into())
            }
            Some(_) => Ok(()),
        }
    }
}
