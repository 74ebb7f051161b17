//! Prepared statements one backend connection has, as the proxy named them.
//!
//! Protocol-level statements are prepared under a name derived from their
//! content (`pgsplit_<hash of the Parse body after the name>`), so clients
//! sharing a connection never collide on their own names (two clients'
//! `s1`) and the same text is prepared once per connection whoever asked.
//! The cache is bounded: beyond [`LIMIT`] the least recently used are
//! closed. SQL-level `PREPARE name` statements keep the client's name (the
//! `EXECUTE name` text refers to it) and are recorded with their text's hash.

use std::collections::HashMap;
use std::hash::BuildHasher;

use lru::LruCache;

/// Protocol-level statements kept per connection before the least recently
/// used are closed.
pub const LIMIT: usize = 256;

/// The name a Close is rewritten to: closing a name that does not exist is
/// not an error, and the server statement stays cached for others.
pub const CLOSED: &str = "pgsplit_closed";

/// The SipHash keys of [`content_hash`]: random, chosen once per process.
/// With fixed keys a client could craft a text whose name collides with
/// another client's statement on a shared connection (transaction pooling)
/// and have its own statement run in the other's place; names only need
/// to be stable while the process and its connections live. Set once and
/// never changed, so it is not mutable state.
static KEYS: std::sync::LazyLock<std::hash::RandomState> =
    std::sync::LazyLock::new(std::hash::RandomState::new);

/// A statement's content hash (for protocol statements: the Parse body
/// after the name, i.e. text and parameter types).
pub fn content_hash(content: &[u8]) -> u64 {
    KEYS.hash_one(content)
}

/// The server-side name of a protocol statement with this content.
pub fn server_name(hash: u64) -> ServerName {
    const PREFIX: &[u8] = b"pgsplit_";
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = [0u8; SERVER_NAME_LEN];
    b[..PREFIX.len()].copy_from_slice(PREFIX);
    for (i, d) in b[PREFIX.len()..].iter_mut().enumerate() {
        *d = HEX[(hash >> (60 - 4 * i)) as usize & 0xf];
    }
    ServerName(b)
}

const SERVER_NAME_LEN: usize = "pgsplit_".len() + 16;

/// `pgsplit_` and 16 hex digits, kept on the stack: it is written into
/// every Bind of a prepared statement.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ServerName([u8; SERVER_NAME_LEN]);

impl std::ops::Deref for ServerName {
    type Target = str;
    fn deref(&self) -> &str {
        // ASCII by construction.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for ServerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl std::fmt::Debug for ServerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

pub struct Statements {
    /// Content hash → known to exist (`false`: it may exist; a request that
    /// parsed it failed, so drop before preparing it again).
    protocol: LruCache<u64, bool>,
    /// SQL-level name → hash of its `PREPARE` text.
    sql: HashMap<String, u64>,
}

impl Default for Statements {
    fn default() -> Self {
        Statements {
            protocol: LruCache::unbounded(),
            sql: HashMap::new(),
        }
    }
}

/// Whether a connection has a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Has {
    Yes,
    No,
    /// Perhaps: drop it (errors ignored) before preparing again.
    Maybe,
}

impl Statements {
    /// Looks a protocol statement up, marking it recently used.
    pub fn protocol(&mut self, hash: u64) -> Has {
        match self.protocol.get(&hash) {
            Some(true) => Has::Yes,
            Some(false) => Has::Maybe,
            None => Has::No,
        }
    }

    pub fn add_protocol(&mut self, hash: u64) {
        self.protocol.put(hash, true);
    }

    /// A request that parsed `hash` failed: the Parse may not have run.
    pub fn uncertain(&mut self, hash: u64) {
        if let Some(v) = self.protocol.peek_mut(&hash) {
            *v = false;
        }
    }

    pub fn remove_protocol(&mut self, hash: u64) {
        self.protocol.pop(&hash);
    }

    pub fn sql(&self, name: &str) -> Option<u64> {
        self.sql.get(name).copied()
    }

    pub fn add_sql(&mut self, name: &str, hash: u64) {
        self.sql.insert(name.to_owned(), hash);
    }

    pub fn remove_sql(&mut self, name: &str) {
        self.sql.remove(name);
    }

    /// Everything is gone from the server (DEALLOCATE ALL, DISCARD ALL).
    pub fn clear(&mut self) {
        self.protocol.clear();
        self.sql.clear();
    }

    pub fn len(&self) -> usize {
        self.protocol.len()
    }

    pub fn is_empty(&self) -> bool {
        self.protocol.is_empty() && self.sql.is_empty()
    }

    /// Least recently used protocol statements beyond `limit`, sparing `keep`.
    pub fn over(&self, limit: usize, keep: &[u64]) -> Vec<u64> {
        let extra = self.protocol.len().saturating_sub(limit);
        self.protocol
            .iter()
            .rev()
            .map(|(h, _)| *h)
            .filter(|h| !keep.contains(h))
            .take(extra)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_content() {
        let a = content_hash(b"SELECT 1\0\0\0");
        assert_eq!(a, content_hash(b"SELECT 1\0\0\0"));
        assert_ne!(a, content_hash(b"SELECT 2\0\0\0"));
        assert!(server_name(a).starts_with("pgsplit_"));
        assert_eq!(server_name(a).len(), "pgsplit_".len() + 16);
        assert_eq!(
            &*server_name(0x0123_4567_89ab_cdef),
            "pgsplit_0123456789abcdef"
        );
        assert_eq!(server_name(a).to_string(), format!("pgsplit_{a:016x}"));
        // Keyed per process, not with SipHash's fixed default keys.
        let fixed = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            b"SELECT 1\0\0\0"[..].hash(&mut h);
            h.finish()
        };
        assert_ne!(a, fixed);
    }

    #[test]
    fn cache_is_lru_and_tracks_uncertainty() {
        let mut s = Statements::default();
        for h in 1..=5 {
            s.add_protocol(h);
        }
        assert_eq!(s.protocol(1), Has::Yes); // now most recent
        assert_eq!(s.over(3, &[]), vec![2, 3]);
        assert_eq!(s.over(3, &[2]), vec![3, 4]);
        s.uncertain(4);
        assert_eq!(s.protocol(4), Has::Maybe);
        s.remove_protocol(4);
        assert_eq!(s.protocol(4), Has::No);
        s.add_sql("p", 9);
        assert_eq!(s.sql("p"), Some(9));
        s.clear();
        assert!(s.is_empty());
    }
}
