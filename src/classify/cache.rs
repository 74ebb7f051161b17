//! A bounded LRU cache of classifications keyed by SQL text.
//!
//! Ownership: one cache per session (or per worker), with no interior
//! locking. Applications repeat the same few hundred statement texts, so a
//! small per-session cache reaches a high hit rate; a shared cache would hit
//! more often for short sessions but puts a lock (or sharded locks) on every
//! query and lets one client's statements evict another's. The proxy can
//! still share one behind a sharded `Mutex` since this type is `Send`.

use std::num::NonZeroUsize;
use std::sync::Arc;

use lru::LruCache;

use super::{classify, Classification, FunctionTable};

/// Texts longer than this are classified but not cached, so a few huge
/// statements (bulk INSERTs with inline values) cannot pin megabytes.
pub const MAX_CACHED_SQL_LEN: usize = 16 * 1024;

/// A per-owner classification cache; see the module docs for the trade-off.
#[derive(Debug)]
pub struct ClassifyCache {
    entries: LruCache<String, Arc<Classification>>,
    /// Generation of the [`FunctionTable`] the entries were computed with.
    generation: u64,
    hits: u64,
    misses: u64,
}

impl ClassifyCache {
    /// A cache holding at most `capacity` texts (at least one).
    pub fn new(capacity: usize) -> Self {
        ClassifyCache {
            entries: LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN)),
            generation: 0,
            hits: 0,
            misses: 0,
        }
    }

    /// Classifies `sql`, reusing an earlier result computed with the same
    /// function table. A table with a new generation empties the cache,
    /// since a function may have changed volatility.
    pub fn classify(&mut self, sql: &str, functions: &FunctionTable) -> Arc<Classification> {
        self.lookup(sql, functions).0
    }

    /// Like [`ClassifyCache::classify`], also saying whether it was a hit.
    pub fn lookup(&mut self, sql: &str, functions: &FunctionTable) -> (Arc<Classification>, bool) {
        if self.generation != functions.generation() {
            self.entries.clear();
            self.generation = functions.generation();
        }
        if let Some(hit) = self.entries.get(sql) {
            self.hits += 1;
            return (Arc::clone(hit), true);
        }
        self.misses += 1;
        let result = Arc::new(classify(sql, functions));
        if sql.len() <= MAX_CACHED_SQL_LEN {
            self.entries.put(sql.to_owned(), Arc::clone(&result));
        }
        (result, false)
    }

    /// A cached classification for `key`, computed with `functions`' generation.
    pub fn get(&mut self, key: &str, functions: &FunctionTable) -> Option<Arc<Classification>> {
        if self.generation != functions.generation() {
            self.entries.clear();
            self.generation = functions.generation();
        }
        let hit = self.entries.get(key).cloned();
        match hit {
            Some(_) => self.hits += 1,
            None => self.misses += 1,
        }
        hit
    }

    /// Stores a classification under `key` (texts over the size limit are not kept).
    pub fn put(&mut self, key: String, value: Arc<Classification>) {
        if key.len() <= MAX_CACHED_SQL_LEN {
            self.entries.put(key, value);
        }
    }

    /// `(hits, misses)` since creation.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// Number of cached texts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops every entry (counters are kept).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}
