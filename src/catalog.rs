//! Per-database classification context: the function-volatility table read
//! from `pg_proc` on the primary, and the classification cache that depends
//! on it. Functions are per database, so is this.
//!
//! Until a database's `pg_proc` has been read, the built-in table applies:
//! unknown functions count as writes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::classify::{classify, shape, Class, Classification, ClassifyCache, FunctionTable};
use crate::config::Routing;

pub struct Catalog {
    functions: RwLock<Arc<FunctionTable>>,
    cache: Mutex<Cached>,
    fetched: Mutex<Option<Instant>>,
    fetching: AtomicBool,
}

/// The cache, and the buffer statement shapes are written into.
struct Cached {
    cache: ClassifyCache,
    scratch: String,
}

impl Catalog {
    fn new(routing: &Routing) -> Catalog {
        let table = FunctionTable::builtin()
            .with_overrides(&routing.read_functions, &routing.write_functions);
        Catalog {
            functions: RwLock::new(Arc::new(table)),
            cache: Mutex::new(Cached {
                cache: ClassifyCache::new(routing.cache_size),
                scratch: String::new(),
            }),
            fetched: Mutex::new(None),
            fetching: AtomicBool::new(false),
        }
    }

    /// Like [`Catalog::classify`] for a Parse's text, which drivers reuse
    /// verbatim with `$n` placeholders: the exact text is looked up first,
    /// before spending a scan on its shape.
    pub fn classify_parse(&self, sql: &str) -> (Arc<Classification>, bool) {
        self.lookup(sql, true)
    }

    /// The classification of `sql`, and whether it came from the cache.
    /// Statements that differ only in literal values share one entry (their
    /// shape) unless their class carries values (session commands).
    ///
    /// A text with literals is looked up by its shape first (one lookup for
    /// the common case), then as itself (session commands keep their values).
    pub fn classify(&self, sql: &str) -> (Arc<Classification>, bool) {
        self.lookup(sql, false)
    }

    /// Cache lookups (the exact text before or after the shape), then on a
    /// miss the classification, stored under the shape when no literal
    /// matters to it.
    fn lookup(&self, sql: &str, exact_first: bool) -> (Arc<Classification>, bool) {
        let functions = self
            .functions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut guard = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let Cached { cache, scratch } = &mut *guard;
        if exact_first {
            if let Some(hit) = cache.get(sql, &functions) {
                return (hit, true);
            }
        }
        let shaped = shape::shape_into(sql, scratch);
        if shaped {
            if let Some(hit) = cache.get(scratch, &functions) {
                return (hit, true);
            }
        }
        if !exact_first {
            if let Some(hit) = cache.get(sql, &functions) {
                return (hit, true);
            }
        }
        let key = shaped.then(|| scratch.clone());
        drop(guard);
        let class = Arc::new(classify(sql, &functions));
        let mut guard = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match key {
            Some(key) if value_free(&class) => guard.cache.put(key, class.clone()),
            _ => guard.cache.put(sql.to_owned(), class.clone()),
        }
        (class, false)
    }

    /// (hits, misses) of the classification cache.
    pub fn cache_stats(&self) -> (u64, u64) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cache
            .stats()
    }

    /// True (once) when the table should be (re)read now; the caller then
    /// fetches and calls [`Catalog::install`] or [`Catalog::failed`].
    pub fn claim_refresh(&self, every: Duration) -> bool {
        let due = self
            .fetched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|t| t.elapsed() >= every);
        due && !self.fetching.swap(true, Ordering::AcqRel)
    }

    pub fn install(&self, rows: Vec<(String, String, char)>, routing: &Routing) {
        let table = FunctionTable::from_rows(rows)
            .with_overrides(&routing.read_functions, &routing.write_functions);
        tracing::debug!(functions = table.len(), "function volatility table loaded");
        *self.functions.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
        *self.fetched.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        self.fetching.store(false, Ordering::Release);
    }

    pub fn failed(&self) {
        self.fetching.store(false, Ordering::Release);
    }
}

/// True when no part of the class depends on literal values.
fn value_free(c: &Classification) -> bool {
    let plain = |class: &Class| matches!(class, Class::Read | Class::Write(_));
    plain(&c.class) && c.parts.iter().all(plain) && c.execute.is_none()
}

/// All databases' catalogs.
pub struct Catalogs {
    routing: Routing,
    by_database: Mutex<HashMap<String, Arc<Catalog>>>,
}

impl Catalogs {
    pub fn new(routing: Routing) -> Catalogs {
        Catalogs {
            routing,
            by_database: Mutex::new(HashMap::new()),
        }
    }

    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    pub fn get(&self, database: &str) -> Arc<Catalog> {
        let mut map = self.by_database.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(database.to_owned())
            .or_insert_with(|| Arc::new(Catalog::new(&self.routing)))
            .clone()
    }

    /// (hits, misses) over all databases.
    pub fn cache_stats(&self) -> (u64, u64) {
        let map = self.by_database.lock().unwrap_or_else(|p| p.into_inner());
        map.values()
            .map(|c| c.cache_stats())
            .fold((0, 0), |(h, m), (a, b)| (h + a, m + b))
    }
}

/// Parses pg_proc rows as the probe query returns them.
pub fn rows_to_functions(rows: crate::backend::Rows) -> Vec<(String, String, char)> {
    rows.into_iter()
        .filter_map(|r| {
            let mut it = r.into_iter();
            let schema = it.next()??;
            let name = it.next()??;
            let vol = it.next()??.chars().next()?;
            Some((schema, name, vol))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::SessionCmd;

    #[test]
    fn literals_share_a_cache_entry_but_session_values_do_not() {
        let cat = Catalog::new(&Routing::default());
        let (_, hit) = cat.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 1");
        assert!(!hit);
        let (c, hit) = cat.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 2");
        assert!(hit, "a new literal should reuse the statement's shape");
        assert_eq!(c.class, Class::Read);
        cat.classify("SET search_path = 'a'");
        let (c, hit) = cat.classify("SET search_path = 'b'");
        assert!(!hit);
        match &c.class {
            Class::Session(SessionCmd::Set { value, .. }) => {
                assert!(value.contains('b'), "{value}")
            }
            other => panic!("{other:?}"),
        }
        let (c, _) = cat.classify("SELECT nextval('s1')");
        assert!(c.class.is_write());
        let (c, hit) = cat.classify("SELECT nextval('s2')");
        assert!(hit && c.class.is_write());
    }

    #[test]
    fn parse_texts_hit_by_exact_text_and_by_shape() {
        let cat = Catalog::new(&Routing::default());
        let q = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
        assert!(!cat.classify_parse(q).1);
        let (c, hit) = cat.classify_parse(q);
        assert!(hit && c.class == Class::Read);
        // A Parse with literals shares the shape entry of simple queries.
        cat.classify("SELECT 1 FROM t WHERE a = 5");
        assert!(cat.classify_parse("SELECT 1 FROM t WHERE a = 6").1);
        // Session values stay per text.
        cat.classify_parse("SET search_path = 'a'");
        let (c, hit) = cat.classify_parse("SET search_path = 'b'");
        assert!(!hit);
        assert!(
            matches!(&c.class, Class::Session(SessionCmd::Set { value, .. }) if value.contains('b'))
        );
    }
}
