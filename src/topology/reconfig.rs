//! A reloaded backend list: new probes, and the previous snapshot carried
//! over to the new list by address (state kept for backends that stay,
//! weights updated, new backends unknown until probed).

use std::sync::Arc;

use super::{BackendState, Probe, Role, Topology};
use crate::backend::ConnectParams;
use crate::config::Config;

/// One probe per configured backend, logging in as the health user.
pub fn probes(config: &Config) -> Vec<Probe> {
    let (user, password) = config.health_credentials();
    config
        .backends
        .iter()
        .map(|b| {
            let params = ConnectParams {
                addr: Arc::from(b.addr.as_str()),
                user: user.clone(),
                password: password.clone(),
                database: config.health.database.clone(),
                startup: vec![("application_name".into(), "pgsplit-health".into())],
                timeout: config.health.timeout,
            };
            Probe::new(params, config.health.timeout)
        })
        .collect()
}

/// `prev` laid over the backends of `config`.
pub fn rebase(prev: &Topology, config: &Config) -> Topology {
    let backends: Vec<BackendState> = config
        .backends
        .iter()
        .map(
            |b| match prev.backends.iter().find(|o| *o.addr == *b.addr) {
                Some(old) => BackendState {
                    weight: b.weight,
                    ..old.clone()
                },
                None => BackendState {
                    addr: Arc::from(b.addr.as_str()),
                    weight: b.weight,
                    role: Role::Unknown,
                    up: false,
                    error: None,
                },
            },
        )
        .collect();
    let primary = prev
        .primary()
        .and_then(|p| backends.iter().position(|b| b.addr == p.addr));
    Topology { backends, primary }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(backends: &[(&str, u32)]) -> Config {
        let list: String = backends
            .iter()
            .map(|(a, w)| format!("[[backends]]\naddr = \"{a}\"\nweight = {w}\n"))
            .collect();
        let text = format!(
            "[listen]\naddr = \"127.0.0.1:6432\"\n{list}[[users]]\nname = \"u\"\npassword = \"p\"\n"
        );
        Config::parse(&text).unwrap()
    }

    #[test]
    fn state_follows_the_address() {
        let old = config(&[("a:1", 1), ("b:1", 1)]);
        let mut t = Topology::initial(&old);
        t.backends[1].role = Role::Primary;
        t.backends[1].up = true;
        t.primary = Some(1);
        let new = config(&[("c:1", 1), ("b:1", 5)]);
        let r = rebase(&t, &new);
        assert_eq!(r.primary, Some(1));
        assert_eq!(r.backends[1].weight, 5);
        assert!(r.backends[1].up);
        assert_eq!(r.backends[0].role, Role::Unknown);
        let r = rebase(&t, &config(&[("b:1", 1)]));
        assert_eq!(r.primary, Some(0));
        let r = rebase(&t, &config(&[("a:1", 1)]));
        assert_eq!(r.primary, None);
        assert_eq!(probes(&new).len(), 2);
    }
}
