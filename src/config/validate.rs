//! The checks serde cannot express: addresses, duplicates, passwords that
//! resolve, and values in range. Each error names the section and key.

use std::net::SocketAddr;

use crate::auth::passthrough::Verifier;

use super::{AuthMethod, Config, ConfigError};

impl Config {
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
        if self.pool.reset_timeout.is_zero() {
            return invalid("[pool] reset_timeout must be positive".into());
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
