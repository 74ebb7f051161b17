//! A reloaded backend list: new probes, and the previous snapshot carried
//! over to the new list by address (state kept for backends that stay,
//! weights updated, new backends unknown until probed).

use super::{BackendState, Topology};
use crate::config::Config;

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
                None => BackendState::new(&b.addr, b.weight),
            },
        )
        .collect();
    let primary = prev
        .primary()
        .and_then(|p| backends.iter().position(|b| b.addr == p.addr));
    Topology {
        backends,
        primary,
        ..prev.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Role;

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
        assert_eq!(crate::topology::probes_for(&new).len(), 2);
    }
}
