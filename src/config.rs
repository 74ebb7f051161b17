//! `proxy.toml`: the schema, its defaults and validation.
//!
//! Each section is its own struct so that each component receives only the
//! part it consumes. Unknown keys are rejected by serde (`deny_unknown_fields`)
//! and toml's error names the key and its line.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::passthrough::Verifier;

#[path = "config_auth.rs"]
mod auth_query;
pub use auth_query::AuthQuery;

#[path = "config_tls.rs"]
mod tls;
pub use tls::{BackendTls, BackendTlsMode, ClientTlsMode, Tls};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Parse(String),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file this configuration was read from (re-read on reload).
    #[serde(skip)]
    pub source: Option<std::path::PathBuf>,
    pub listen: Listen,
    #[serde(default)]
    pub admin: Admin,
    #[serde(default)]
    pub backends: Vec<Backend>,
    #[serde(default)]
    pub users: Vec<User>,
    /// Per-database overrides (today: the pooling mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<Database>,
    #[serde(default)]
    pub pool: Pool,
    #[serde(default)]
    pub routing: Routing,
    #[serde(default)]
    pub health: Health,
    #[serde(default)]
    pub failover: Failover,
    #[serde(default)]
    pub log: Log,
    /// Client-facing TLS.
    #[serde(default)]
    pub tls: Tls,
    /// TLS towards the backends (per backend: `[[backends]] tls_mode`, `tls_ca`).
    #[serde(default)]
    pub backend_tls: BackendTls,
    /// auth_query: verifiers of users not in `[[users]]`, fetched from the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthQuery>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// Where applications connect.
    pub addr: String,
    /// Client connections accepted at once; more get SQLSTATE 53300.
    #[serde(default = "defaults::max_clients")]
    pub max_clients: usize,
    /// A client must finish startup and authentication within this time.
    #[serde(default = "defaults::startup_timeout", with = "humantime_serde")]
    pub startup_timeout: Duration,
    /// Largest single protocol message accepted from a client.
    #[serde(default = "defaults::max_message_size")]
    pub max_message_size: usize,
    /// On SIGTERM, open transactions get this long to finish.
    #[serde(default = "defaults::shutdown_timeout", with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Runtime worker threads (read at start); 0: half the cores, at least
    /// one (see [`Listen::worker_threads`]).
    #[serde(default)]
    pub workers: usize,
    /// A wrong password is answered only after this long (the session's
    /// own task waits; other clients are not held up).
    #[serde(default = "defaults::auth_failure_delay", with = "humantime_serde")]
    pub auth_failure_delay: Duration,
    /// A client idle inside a transaction longer than this gets 25P03 and
    /// is closed; its transaction is rolled back. None: no limit.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_in_transaction_timeout: Option<Duration>,
}

impl Listen {
    /// The worker threads to run with. Half the cores by default: a proxy
    /// mostly shares its machine with the database or the application, and
    /// measured on 2 cores beside PostgreSQL and pgbench one worker served
    /// `pgbench -S -c 16` at 1.1–1.3× the throughput of two, with less CPU
    /// per transaction (fewer cross-thread wakeups).
    pub fn worker_threads(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            n => n,
        }
    }
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// HTTP endpoint for /metrics /health /ready /status.
    #[serde(default = "defaults::admin_addr")]
    pub addr: String,
    /// When set, every endpoint but /health needs `Authorization: Bearer <token>`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "redact"
    )]
    pub token: Option<String>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            addr: defaults::admin_addr(),
            token: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    /// host:port of a PostgreSQL server. Roles are discovered, never configured.
    pub addr: String,
    /// Share of reads this backend gets while it is a usable replica.
    #[serde(default = "defaults::weight")]
    pub weight: u32,
    /// This backend's TLS mode (default: `[backend_tls] mode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_mode: Option<BackendTlsMode>,
    /// This backend's CA file (default: `[backend_tls] ca`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
pub enum AuthMethod {
    #[default]
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    #[serde(rename = "md5")]
    Md5,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// Password clients must present, and that pgsplit uses towards the
    /// backends; or a SCRAM verifier (`SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`,
    /// as in pg_authid): clients are checked against it and backends are
    /// logged in to by SCRAM pass-through.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "redact"
    )]
    pub password: Option<String>,
    /// Name of an environment variable holding the password instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// How clients authenticate to pgsplit.
    #[serde(default)]
    pub auth: AuthMethod,
    /// This user's pooling mode (default: `[pool] mode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_mode: Option<PoolMode>,
}

/// Settings for the sessions of one database (the name clients connect to).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub name: String,
    /// Pooling mode of this database's sessions (a user's `pool_mode` wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_mode: Option<PoolMode>,
}

/// How long a client keeps a backend connection.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    /// For the whole client session.
    #[default]
    Session,
    /// For one transaction (or one statement outside a transaction).
    Transaction,
}

fn redact<S: serde::Serializer>(_: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("<redacted>")
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .field("auth", &self.auth)
            .finish()
    }
}

impl User {
    /// The password, from the file or the named environment variable.
    pub fn secret(&self) -> Option<String> {
        match (&self.password, &self.password_env) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(var)) => std::env::var(var).ok(),
            (None, None) => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// `session` or `transaction` pooling (per user: `[[users]] pool_mode`).
    #[serde(default)]
    pub mode: PoolMode,
    /// Backend connections per (backend, user, database) pool.
    #[serde(default = "defaults::max_per_backend")]
    pub max_per_backend: usize,
    /// A client waiting longer than this for a backend connection gets 53300.
    #[serde(default = "defaults::checkout_timeout", with = "humantime_serde")]
    pub checkout_timeout: Duration,
    /// Idle pooled connections older than this are closed.
    #[serde(default = "defaults::idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// TCP connect plus startup/authentication towards a backend.
    #[serde(default = "defaults::connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Backend connections older than this are closed when given back.
    #[serde(default = "defaults::server_lifetime", with = "humantime_serde")]
    pub server_lifetime: Duration,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            mode: PoolMode::Session,
            server_lifetime: defaults::server_lifetime(),
            max_per_backend: defaults::max_per_backend(),
            checkout_timeout: defaults::checkout_timeout(),
            idle_timeout: defaults::idle_timeout(),
            connect_timeout: defaults::connect_timeout(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// Functions (optionally schema-qualified) to treat as reads whatever pg_proc says.
    #[serde(default)]
    pub read_functions: Vec<String>,
    /// Functions to treat as writes whatever pg_proc says.
    #[serde(default)]
    pub write_functions: Vec<String>,
    /// How often each database's function volatility table is re-read.
    #[serde(default = "defaults::functions_refresh", with = "humantime_serde")]
    pub functions_refresh: Duration,
    /// Statement texts whose classification is cached, per database.
    #[serde(default = "defaults::cache_size")]
    pub cache_size: usize,
    /// Read-your-writes: "eventual", "session" or "global".
    #[serde(default)]
    pub consistency: Consistency,
    /// Longest a read waits for a replica to replay what it must see before
    /// it goes to the primary instead.
    #[serde(default = "defaults::causal_wait_timeout", with = "humantime_serde")]
    pub causal_wait_timeout: Duration,
    /// A replica further behind the primary than this (bytes of WAL) gets no reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replica_lag_bytes: Option<u64>,
    /// A replica further behind than this (time since its last replayed
    /// commit while it has WAL to replay) gets no reads.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_replica_lag: Option<Duration>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// No tracking: a read may not see a write that just committed.
    Eventual,
    /// A session's reads see its own committed writes.
    #[default]
    Session,
    /// Reads see every write the proxy has seen committed, by any client.
    Global,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            read_functions: Vec::new(),
            write_functions: Vec::new(),
            functions_refresh: defaults::functions_refresh(),
            cache_size: defaults::cache_size(),
            consistency: Consistency::default(),
            causal_wait_timeout: defaults::causal_wait_timeout(),
            max_replica_lag_bytes: None,
            max_replica_lag: None,
        }
    }
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Time between probes of each backend.
    #[serde(default = "defaults::health_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// A probe slower than this counts as a failure.
    #[serde(default = "defaults::health_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// User the probes log in as (default: the first [[users]] entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Its password (default: that user's password).
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// Database the probes connect to.
    #[serde(default = "defaults::health_database")]
    pub database: String,
    /// Consecutive failed probes that mark a backend down.
    #[serde(default = "defaults::health_failures")]
    pub failures: u32,
    /// Consecutive good probes that bring a down backend back.
    #[serde(default = "defaults::health_successes")]
    pub successes: u32,
    /// File keeping the highest timeline seen per cluster across restarts
    /// (default: none, kept in memory only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("failures", &self.failures)
            .field("successes", &self.successes)
            .field("state_file", &self.state_file)
            .finish()
    }
}

impl Default for Health {
    fn default() -> Self {
        Health {
            interval: defaults::health_interval(),
            timeout: defaults::health_timeout(),
            user: None,
            password: None,
            database: defaults::health_database(),
            failures: defaults::health_failures(),
            successes: defaults::health_successes(),
            state_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Failover {
    /// Promote the best replica when the primary stays down (off by default).
    #[serde(default)]
    pub auto_promote: bool,
    /// How long the primary must be down before a promotion.
    #[serde(default = "defaults::failover_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Promote only while `vip` is assigned to this host.
    #[serde(default)]
    pub require_vip: bool,
    /// The virtual IP of a pgsplit pair (for `require_vip`).
    #[serde(default)]
    pub vip: String,
}

impl Default for Failover {
    fn default() -> Self {
        Failover {
            auto_promote: false,
            timeout: defaults::failover_timeout(),
            require_vip: false,
            vip: String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// tracing filter (RUST_LOG wins when set).
    #[serde(default = "defaults::log_level")]
    pub level: String,
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: defaults::log_level(),
            format: LogFormat::Text,
        }
    }
}

mod defaults {
    use std::time::Duration;
    pub fn max_clients() -> usize {
        5000
    }
    pub fn startup_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn max_message_size() -> usize {
        64 * 1024 * 1024
    }
    pub fn auth_failure_delay() -> Duration {
        Duration::from_millis(500)
    }
    pub fn shutdown_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn admin_addr() -> String {
        "127.0.0.1:9930".into()
    }
    pub fn weight() -> u32 {
        1
    }
    pub fn max_per_backend() -> usize {
        20
    }
    pub fn checkout_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub fn idle_timeout() -> Duration {
        Duration::from_secs(600)
    }
    pub fn connect_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub fn server_lifetime() -> Duration {
        Duration::from_secs(3600)
    }
    pub fn functions_refresh() -> Duration {
        Duration::from_secs(300)
    }
    pub fn cache_size() -> usize {
        10_000
    }
    pub fn causal_wait_timeout() -> Duration {
        Duration::from_millis(100)
    }
    pub fn health_interval() -> Duration {
        Duration::from_secs(1)
    }
    pub fn health_timeout() -> Duration {
        Duration::from_secs(2)
    }
    pub fn health_database() -> String {
        "postgres".into()
    }
    pub fn health_failures() -> u32 {
        3
    }
    pub fn health_successes() -> u32 {
        2
    }
    pub fn failover_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn log_level() -> String {
        "info".into()
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|e| match e {
            ConfigError::Parse(m) => ConfigError::Parse(format!("{}: {m}", path.display())),
            other => other,
        })?;
        // Absolute, so a reload finds the same file whatever the cwd is then.
        config.source = Some(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let msg = e.to_string();
            // toml says "missing field `listen`" for an absent table; say section.
            ConfigError::Parse(msg.replace("missing field", "missing section or key"))
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.listen.addr.parse::<SocketAddr>().is_err() {
            return invalid(format!(
                "[listen] addr = {:?} is not an IP:port address",
                self.listen.addr
            ));
        }
        if self.admin.addr.parse::<SocketAddr>().is_err() {
            return invalid(format!(
                "[admin] addr = {:?} is not an IP:port address",
                self.admin.addr
            ));
        }
        if self.admin.token.as_deref().is_some_and(str::is_empty) {
            return invalid("[admin] token is empty: remove it or set a secret".into());
        }
        if self.backends.is_empty() {
            return invalid("missing section [[backends]]: at least one backend is needed".into());
        }
        for (i, b) in self.backends.iter().enumerate() {
            if !valid_host_port(&b.addr) {
                return invalid(format!(
                    "[[backends]] #{}: addr = {:?} is not host:port",
                    i + 1,
                    b.addr
                ));
            }
            if self.backends[..i].iter().any(|o| o.addr == b.addr) {
                return invalid(format!("duplicate backend {:?}", b.addr));
            }
        }
        self.tls.validate().or_else(invalid)?;
        self.backend_tls
            .validate("[backend_tls]")
            .or_else(invalid)?;
        for b in &self.backends {
            self.backend_tls_for(b)
                .validate(&format!("backend {:?}", b.addr))
                .or_else(invalid)?;
        }
        if let Some(a) = &self.auth {
            a.validate().or_else(invalid)?;
        }
        if self.users.is_empty() {
            return invalid("missing section [[users]]: at least one user is needed".into());
        }
        for (i, u) in self.users.iter().enumerate() {
            if u.name.is_empty() {
                return invalid(format!("[[users]] #{}: empty name", i + 1));
            }
            if self.users[..i].iter().any(|o| o.name == u.name) {
                return invalid(format!("duplicate user {:?}", u.name));
            }
            match (&u.password, &u.password_env) {
                (None, None) => {
                    return invalid(format!(
                        "user {:?} has no password: set password or password_env",
                        u.name
                    ))
                }
                (None, Some(var)) if std::env::var(var).is_err() => {
                    return invalid(format!(
                        "user {:?}: environment variable {var} (password_env) is not set",
                        u.name
                    ))
                }
                _ => {}
            }
            if let Some(v) = u.secret().filter(|p| Verifier::looks_like(p)) {
                if let Err(e) = Verifier::parse(&v) {
                    return invalid(format!("user {:?}: password is {e}", u.name));
                }
                if u.auth == AuthMethod::Md5 {
                    return invalid(format!(
                        "user {:?}: auth = \"md5\" needs the plaintext password, not a SCRAM verifier",
                        u.name
                    ));
                }
            }
        }
        if self.health.password.is_none() {
            let (hu, secret) = self.health_credentials();
            if Verifier::looks_like(&secret) {
                return invalid(format!(
                    "[health] user {hu:?} has only a SCRAM verifier in [[users]]: set [health] \
                     password (probes log in before any client could lend its key)"
                ));
            }
        }
        for (i, d) in self.databases.iter().enumerate() {
            if d.name.is_empty() {
                return invalid(format!("[[databases]] #{}: empty name", i + 1));
            }
            if self.databases[..i].iter().any(|o| o.name == d.name) {
                return invalid(format!("duplicate database {:?}", d.name));
            }
        }
        if let Some(hu) = &self.health.user {
            if self.health.password.is_none() && !self.users.iter().any(|u| &u.name == hu) {
                return invalid(format!(
                    "[health] user {hu:?} is not in [[users]] and has no password"
                ));
            }
        }
        if self.listen.max_message_size < 1024 {
            return invalid("[listen] max_message_size must be at least 1024 bytes".into());
        }
        if self.listen.max_message_size > 1 << 30 {
            return invalid(
                "[listen] max_message_size must be at most 1 GiB (PostgreSQL's own limit)".into(),
            );
        }
        if self.listen.max_clients == 0 {
            return invalid("[listen] max_clients must be at least 1".into());
        }
        if self
            .listen
            .idle_in_transaction_timeout
            .is_some_and(|d| d.is_zero())
        {
            return invalid(
                "[listen] idle_in_transaction_timeout must be positive (leave it out for no limit)"
                    .into(),
            );
        }
        if self.pool.max_per_backend == 0 {
            return invalid("[pool] max_per_backend must be at least 1".into());
        }
        if self.health.interval.is_zero() {
            return invalid("[health] interval must be positive".into());
        }
        if self.health.failures == 0 || self.health.successes == 0 {
            return invalid("[health] failures and successes must be at least 1".into());
        }
        if self.failover.require_vip && self.failover.vip.parse::<std::net::IpAddr>().is_err() {
            return invalid(format!(
                "[failover] require_vip is set but vip = {:?} is not an IP address",
                self.failover.vip
            ));
        }
        Ok(())
    }

    /// The TLS settings for one backend: its own `tls_mode` / `tls_ca`
    /// over `[backend_tls]`.
    pub fn backend_tls_for(&self, b: &Backend) -> BackendTls {
        BackendTls {
            mode: b.tls_mode.unwrap_or(self.backend_tls.mode),
            ca: b.tls_ca.clone().or_else(|| self.backend_tls.ca.clone()),
        }
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The pooling mode of `user`'s sessions on `database`: the user's
    /// `pool_mode`, else the database's, else `[pool] mode`.
    pub fn pool_mode(&self, user: &str, database: &str) -> PoolMode {
        self.user(user)
            .and_then(|u| u.pool_mode)
            .or_else(|| {
                self.databases
                    .iter()
                    .find(|d| d.name == database)
                    .and_then(|d| d.pool_mode)
            })
            .unwrap_or(self.pool.mode)
    }

    /// Credentials the topology probes use.
    pub fn health_credentials(&self) -> (String, String) {
        let first = &self.users[0];
        let user = self
            .health
            .user
            .clone()
            .unwrap_or_else(|| first.name.clone());
        let password = self
            .health
            .password
            .clone()
            .or_else(|| self.user(&user).and_then(User::secret))
            .unwrap_or_default();
        (user, password)
    }

    /// The effective configuration as TOML, passwords left out.
    pub fn effective(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

fn valid_host_port(s: &str) -> bool {
    if s.parse::<SocketAddr>().is_ok() {
        return true;
    }
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && port.parse::<u16>().is_ok_and(|p| p != 0)
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        }
        None => false,
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
