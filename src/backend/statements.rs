//! Prepared statements one backend connection has, as the proxy named them.
//!
//! Protocol-level statements are prepared under a name derived from their
//! content (`pgsplit_<hash of the Parse body after the name>`), so clients
//! sharing a connection never collide on their own names (two clients'
//! `s1`) and the same text is prepared once per connection whoever asked.
//! The cache is bounded: beyond [`LIMIT`] the least recently used are
//! closed. SQL-level `PREPARE name` statements keep the client's name (the
//! `EXECUTE name` text refers to it) and are recorded with their text's hash.
//!
//! The unnamed statement is prepared under the same names once a
//! connection has seen its text twice ([`Statements::auto`],
//! `session::auto_prepare`): the server then skips parsing and planning it.

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

/// The caches are keyed by content hashes, keyed SipHash values a client
/// cannot choose: a fast hasher is enough for them.
type Fast = foldhash::fast::RandomState;

pub struct Statements {
    protocol: LruCache<u64, State, Fast>,
    /// SQL-level name → hash of its `PREPARE` text.
    sql: HashMap<String, u64>,
    /// Unnamed statements parsed once as they came: their second Parse on
    /// this connection prepares them under their server name.
    seen: LruCache<u64, (), Fast>,
    /// How many protocol statements are [`State::Uncertain`].
    uncertain: usize,
    /// The last unnamed statement's content and its hash: a driver
    /// repeats the same text, and comparing costs less than hashing.
    last: (Vec<u8>, u64),
}

/// What the proxy knows of one protocol statement on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Exists,
    /// A request that parsed it failed: it may exist; drop it before
    /// preparing it again.
    Uncertain,
    /// Prepared in place of an unnamed statement by a request whose
    /// ReadyForQuery has not come yet: the request may still fail before
    /// its Parse ran, so only that request may use it.
    Pending,
    /// Parsed under a client's name by a request whose ReadyForQuery has
    /// not come yet: the client's later Binds of that name may use it
    /// (they would fail on the server too if it never ran), but it does
    /// not stand in for an unnamed statement until it is confirmed.
    Sent,
}

impl Default for Statements {
    fn default() -> Self {
        Statements {
            protocol: LruCache::unbounded_with_hasher(Fast::default()),
            sql: HashMap::new(),
            // Bounded by hand (`auto`): a bounded LruCache allocates its
            // whole table up front, on every new server connection.
            seen: LruCache::unbounded_with_hasher(Fast::default()),
            uncertain: 0,
            last: (Vec::new(), content_hash(&[])),
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

/// Statements kept for unnamed ones (prepared or reused) by one request,
/// settled by its ReadyForQuery ([`Statements::settled`]). Nearly always
/// one, held without allocating.
#[derive(Debug, Default)]
pub struct Kept {
    one: Option<u64>,
    more: Vec<u64>,
}

impl Kept {
    pub fn push(&mut self, hash: u64) {
        match self.one {
            None => self.one = Some(hash),
            Some(h) if h == hash || self.more.contains(&hash) => {}
            Some(_) => self.more.push(hash),
        }
    }

    pub fn contains(&self, hash: u64) -> bool {
        self.one == Some(hash) || self.more.contains(&hash)
    }

    pub fn is_empty(&self) -> bool {
        self.one.is_none()
    }

    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.one.into_iter().chain(self.more.iter().copied())
    }

    /// Moves `other`'s statements in.
    pub fn absorb(&mut self, other: Kept) {
        for h in other.iter() {
            self.push(h);
        }
    }
}

/// How an unnamed statement's Parse goes to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auto {
    /// As it came: the server parses and plans it once.
    Plain,
    /// Under its server name: the connection keeps it.
    Prepare,
    /// The connection has it: nothing to parse.
    Reuse,
}

impl Statements {
    /// Looks a protocol statement up, marking it recently used.
    pub fn protocol(&mut self, hash: u64) -> Has {
        match self.protocol.get(&hash) {
            Some(State::Exists | State::Sent) => Has::Yes,
            Some(State::Uncertain | State::Pending) => Has::Maybe,
            None => Has::No,
        }
    }

    /// A statement the connection has for sure (a replay that succeeded).
    pub fn add_protocol(&mut self, hash: u64) {
        self.put(hash, State::Exists);
    }

    /// A client's named Parse sent: settled by its request's ReadyForQuery.
    pub fn add_sent(&mut self, hash: u64) {
        self.put(hash, State::Sent);
    }

    /// Every change of a protocol statement's state goes through here, so
    /// the count of uncertain ones stays true.
    fn put(&mut self, hash: u64, state: State) {
        let old = self.protocol.put(hash, state);
        self.recount(old, Some(state));
    }

    fn recount(&mut self, old: Option<State>, new: Option<State>) {
        let uncertain = |s: Option<State>| usize::from(s == Some(State::Uncertain));
        self.uncertain = self.uncertain + uncertain(new) - uncertain(old);
    }

    /// Some statement may or may not exist: the next plan drops it.
    pub fn unsettled(&self) -> bool {
        self.uncertain > 0
    }

    /// The statements that may or may not exist.
    pub fn uncertain(&self) -> Vec<u64> {
        self.protocol
            .iter()
            .filter(|(_, s)| **s == State::Uncertain)
            .map(|(h, _)| *h)
            .collect()
    }

    /// [`content_hash`] of an unnamed statement's content.
    pub fn hash_of(&mut self, content: &[u8]) -> u64 {
        let (text, hash) = &mut self.last;
        if text.as_slice() != content {
            text.clear();
            text.extend_from_slice(content);
            *hash = content_hash(content);
        }
        *hash
    }

    /// How the unnamed statement with content `hash` goes to this
    /// connection: reused when it has it; prepared under its server name
    /// the second time the connection sees it, while the cache has room
    /// (a text seen once, such as one with its values written in, is never
    /// kept); otherwise as it came. A statement prepared so is pending
    /// until its request's ReadyForQuery ([`Statements::settled`]).
    pub fn auto(&mut self, hash: u64) -> Auto {
        let known = self.protocol.get(&hash).copied();
        match known {
            Some(State::Exists) => Auto::Reuse,
            Some(State::Uncertain | State::Pending | State::Sent) => Auto::Plain,
            None if self.seen.pop(&hash).is_some() && self.protocol.len() < LIMIT => {
                self.put(hash, State::Pending);
                Auto::Prepare
            }
            None => {
                self.seen.put(hash, ());
                if self.seen.len() > LIMIT {
                    self.seen.pop_lru();
                }
                Auto::Plain
            }
        }
    }

    /// The request that parsed or reused `hash` ended: failed, the Parse
    /// may not have run (or the statement no longer runs: its result
    /// changed); otherwise a statement pending is there for every request.
    pub fn settled(&mut self, hash: u64, failed: bool) {
        let Some(v) = self.protocol.peek_mut(&hash) else {
            return;
        };
        let old = *v;
        *v = match (failed, old) {
            (true, _) => State::Uncertain,
            (false, State::Pending | State::Sent) => State::Exists,
            (false, other) => other,
        };
        let new = *v;
        self.recount(Some(old), Some(new));
    }

    pub fn remove_protocol(&mut self, hash: u64) {
        let old = self.protocol.pop(&hash);
        self.recount(old, None);
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
        self.seen.clear();
        self.uncertain = 0;
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
        s.settled(4, true);
        assert_eq!(s.protocol(4), Has::Maybe);
        assert!(s.unsettled());
        assert_eq!(s.uncertain(), vec![4]);
        s.settled(4, false);
        assert_eq!(s.protocol(4), Has::Maybe, "a success does not make it sure");
        s.remove_protocol(4);
        assert_eq!(s.protocol(4), Has::No);
        assert!(!s.unsettled());
        s.add_sql("p", 9);
        assert_eq!(s.sql("p"), Some(9));
        s.clear();
        assert!(s.is_empty());
    }

    #[test]
    fn an_unnamed_statement_is_kept_the_second_time_it_is_seen() {
        let mut s = Statements::default();
        assert_eq!(s.auto(7), Auto::Plain, "first seen");
        assert_eq!(s.auto(7), Auto::Prepare, "seen again");
        assert_eq!(s.protocol(7), Has::Maybe, "pending: others may not use it");
        assert_eq!(s.auto(7), Auto::Plain, "pending: not for another request");
        s.settled(7, false);
        assert_eq!(s.auto(7), Auto::Reuse);
        assert_eq!(s.protocol(7), Has::Yes);
        assert!(!s.unsettled());
        // A request that reused it failed: perhaps because it no longer
        // runs (its result changed). Plain until the connection drops it.
        s.settled(7, true);
        assert_eq!(s.auto(7), Auto::Plain);
        assert!(s.unsettled());
        s.add_protocol(7);
        assert!(!s.unsettled(), "prepared again");

        // A request that failed may not have parsed it.
        assert_eq!(s.auto(8), Auto::Plain);
        assert_eq!(s.auto(8), Auto::Prepare);
        s.settled(8, true);
        assert_eq!(s.auto(8), Auto::Plain);
        assert_eq!(s.protocol(8), Has::Maybe);

        // A client's named Parse of the text, not yet confirmed: its own
        // Binds may use it, an unnamed statement not yet.
        s.add_sent(9);
        assert_eq!(s.protocol(9), Has::Yes);
        assert_eq!(s.auto(9), Auto::Plain);
        s.settled(9, false);
        assert_eq!(s.auto(9), Auto::Reuse);

        // A full cache keeps nothing more.
        let mut s = Statements::default();
        for h in 0..LIMIT as u64 {
            s.add_protocol(h);
        }
        let h = LIMIT as u64;
        assert_eq!(s.auto(h), Auto::Plain);
        assert_eq!(s.auto(h), Auto::Plain);
        assert_eq!(s.protocol(h), Has::No);

        let mut s = Statements::default();
        for text in [
            &b""[..],
            b"a\0\0\0",
            b"a\0\0\0",
            b"b\0\0\0",
            b"",
            b"a\0\0\0",
        ] {
            assert_eq!(s.hash_of(text), content_hash(text));
        }

        let mut k = Kept::default();
        assert!(k.is_empty());
        for h in [3, 3, 4, 3, 5, 4] {
            k.push(h);
        }
        assert_eq!(k.iter().collect::<Vec<_>>(), vec![3, 4, 5]);
        assert!(k.contains(5) && !k.contains(6));

        // What was seen once is bounded too: the oldest is forgotten.
        let mut s = Statements::default();
        for h in 0..=LIMIT as u64 {
            assert_eq!(s.auto(h), Auto::Plain);
        }
        assert_eq!(s.auto(0), Auto::Plain, "forgotten");
        assert_eq!(s.auto(LIMIT as u64), Auto::Prepare);

        // Gone with the rest.
        let mut s = Statements::default();
        s.auto(9);
        s.clear();
        assert_eq!(s.auto(9), Auto::Plain, "seen again from scratch");
    }
}
