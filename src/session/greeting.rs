//! The ParameterStatus values a new session is greeted with, remembered per
//! user, database and startup settings.
//!
//! The first client of a kind opens a backend connection during its
//! handshake: that proves the database exists and gives the values as the
//! server reports them once the client's settings are applied (normalised:
//! `utf8` becomes `UTF8`). Later clients with the same user, database and
//! settings are greeted from here without touching a backend, and their
//! first request checks out only the connection it is routed to. A
//! connection-per-request client (`pgbench -C`, serverless functions) thus
//! costs one backend round trip fewer, and a read-only one never touches
//! the primary.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries are re-learned after this long (a server upgrade or a changed
/// role attribute shows up in new sessions within it).
const TTL: Duration = Duration::from_secs(300);
/// More distinct startup-setting combinations than this clears the cache
/// (each is tiny; the bound only stops a client inventing endless ones).
const MAX_ENTRIES: usize = 4096;

pub type Params = Arc<[(String, String)]>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(u64);

impl Key {
    /// `primary` is the primary's address (or "" without one): a failover
    /// starts over, since the new primary may report other values.
    pub fn new(primary: &str, user: &str, database: &str, settings: &[(String, String)]) -> Key {
        let mut h = DefaultHasher::new();
        (primary, user, database, settings).hash(&mut h);
        Key(h.finish())
    }
}

#[derive(Default)]
pub struct Greetings {
    entries: Mutex<HashMap<Key, (Instant, Params)>>,
}

impl Greetings {
    /// The values to greet a client with, when known and recent.
    pub fn get(&self, key: Key) -> Option<Params> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&key)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, p)| p.clone())
    }

    pub fn put(&self, key: Key, params: Params) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), params));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keyed_by_user_database_and_settings() {
        let g = Greetings::default();
        let a = Key::new("p", "app", "app", &s(&[("application_name", "x")]));
        let params: Params = s(&[("server_version", "15")]).into();
        g.put(a, params.clone());
        assert_eq!(g.get(a).as_deref(), Some(&params[..]));
        for other in [
            Key::new("p", "bob", "app", &s(&[("application_name", "x")])),
            Key::new("p", "app", "other", &s(&[("application_name", "x")])),
            Key::new("p", "app", "app", &s(&[("application_name", "y")])),
            Key::new("p", "app", "app", &[]),
        ] {
            assert_eq!(g.get(other), None);
        }
        let moved = Key::new("q", "app", "app", &s(&[("application_name", "x")]));
        assert_eq!(g.get(moved), None);
    }

    #[test]
    fn bounded() {
        let g = Greetings::default();
        for i in 0..MAX_ENTRIES + 10 {
            g.put(
                Key::new("p", "u", &i.to_string(), &[]),
                Arc::from(Vec::new()),
            );
        }
        let n = g.entries.lock().map(|e| e.len()).unwrap_or(0);
        assert!(n <= MAX_ENTRIES, "{n} entries");
    }
}
