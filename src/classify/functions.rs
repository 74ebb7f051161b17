//! The function volatility table: decides whether calling a function is
//! safe on a read-only standby.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::builtin;

/// `pg_proc.provolatile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

impl Volatility {
    /// Parses a `provolatile` char; anything unexpected is treated as volatile
    /// so an odd catalog row can only ever send traffic to the primary.
    pub fn from_provolatile(c: char) -> Self {
        match c {
            'i' => Volatility::Immutable,
            's' => Volatility::Stable,
            _ => Volatility::Volatile,
        }
    }
}

/// The routing verdict for one function call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FnVerdict {
    /// Safe on a standby.
    Read,
    /// Known and must run on the primary.
    Write,
    /// Not in the table: must run on the primary.
    Unknown,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    volatility: Volatility,
    read_safe: bool,
    /// Set by a configuration override; beats anything derived from pg_proc.
    forced: bool,
}

impl Entry {
    fn derived(volatility: Volatility, name: &str, schema: &str) -> Self {
        let pg_catalog = schema == PG_CATALOG;
        let read_safe = match volatility {
            _ if pg_catalog && builtin::PRIMARY_ONLY.contains(&name) => false,
            Volatility::Immutable | Volatility::Stable => true,
            Volatility::Volatile => pg_catalog && builtin::VOLATILE_READ_SAFE.contains(&name),
        };
        Entry {
            volatility,
            read_safe,
            forced: false,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct NameEntry {
    /// An unqualified override (`"f"` in the config) applies in every schema.
    forced: Option<bool>,
    /// Per-schema entries; tiny in practice, so a Vec beats a nested map.
    schemas: Vec<(String, Entry)>,
}

const PG_CATALOG: &str = "pg_catalog";

/// Hands out a fresh generation to every table so caches can tell tables apart.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// An immutable snapshot of function volatilities; share it via `Arc`.
///
/// Resolution of an unqualified name: `pg_catalog` first (PostgreSQL searches
/// it before the search_path unless told otherwise), then every other schema
/// that has the name: the call is a read only if all candidates are read-safe.
#[derive(Debug, Clone)]
pub struct FunctionTable {
    names: HashMap<String, NameEntry>,
    generation: u64,
}

impl FunctionTable {
    /// The catalog query the proxy runs on the primary to build a table with
    /// [`FunctionTable::from_rows`]. Every name is pg_catalog-qualified (and
    /// `provolatile` is cast to text explicitly) so a hostile search_path cannot
    /// substitute its own objects.
    pub const PG_PROC_QUERY: &'static str = "SELECT n.nspname::pg_catalog.text, \
         p.proname::pg_catalog.text, p.provolatile::pg_catalog.text \
         FROM pg_catalog.pg_proc p \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace";

    /// A table with no functions at all: every call is unknown, hence a write.
    pub fn empty() -> Self {
        let mut t = FunctionTable {
            names: HashMap::new(),
            generation: next_generation(),
        };
        t.add_syntax_functions();
        t
    }

    /// Common pg_catalog functions, so reads route correctly before `pg_proc`
    /// has been fetched.
    pub fn builtin() -> Self {
        let mut t = Self::empty();
        let lists = [
            (builtin::IMMUTABLE, Volatility::Immutable),
            (builtin::STABLE, Volatility::Stable),
            (builtin::VOLATILE_READ_SAFE, Volatility::Volatile),
            (builtin::PRIMARY_ONLY, Volatility::Volatile),
        ];
        for (names, volatility) in lists {
            for name in names {
                t.insert(PG_CATALOG, name, volatility);
            }
        }
        t
    }

    /// Builds a table from `pg_proc` rows `(schema, name, provolatile)`.
    /// Overloads share a name, so the most volatile overload wins: the
    /// classifier does not resolve argument types.
    pub fn from_rows(rows: impl IntoIterator<Item = (String, String, char)>) -> Self {
        let mut t = Self::empty();
        for (schema, name, provolatile) in rows {
            t.insert(&schema, &name, Volatility::from_provolatile(provolatile));
        }
        t
    }

    /// Applies configuration overrides. Each entry is `name` (any schema) or
    /// `schema.name`; `writes` are applied after `reads`, so a function listed
    /// in both is a write.
    pub fn with_overrides(mut self, reads: &[String], writes: &[String]) -> Self {
        let forced = reads
            .iter()
            .map(|s| (s, true))
            .chain(writes.iter().map(|s| (s, false)));
        for (spec, read_safe) in forced {
            let spec = spec.trim().to_ascii_lowercase();
            match spec.rsplit_once('.') {
                Some((schema, name)) => self.force(Some(schema), name, read_safe),
                None => self.force(None, &spec, read_safe),
            }
        }
        self.generation = next_generation();
        self
    }

    /// A number unique to this table's contents; caches compare it to know
    /// when their entries were computed against a different table.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of distinct function names known.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when no function is known.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The volatility recorded for a function, resolving unqualified names
    /// like [`FunctionTable`] describes (most volatile candidate wins).
    pub fn volatility(&self, schema: Option<&str>, name: &str) -> Option<Volatility> {
        let entry = self.names.get(name)?;
        match schema {
            Some(s) => entry
                .schemas
                .iter()
                .find(|(es, _)| es == s)
                .map(|(_, e)| e.volatility),
            None => match entry.schemas.iter().find(|(es, _)| es == PG_CATALOG) {
                Some((_, e)) => Some(e.volatility),
                None => entry.schemas.iter().map(|(_, e)| e.volatility).max(),
            },
        }
    }

    /// Whether a call to `schema.name` (names already case-folded) may run on
    /// a standby.
    pub fn verdict(&self, schema: Option<&str>, name: &str) -> FnVerdict {
        let Some(entry) = self.names.get(name) else {
            return FnVerdict::Unknown;
        };
        let found = |s: &str| {
            entry
                .schemas
                .iter()
                .find(|(es, _)| es == s)
                .map(|(_, e)| *e)
        };
        let pick = |read_safe: bool| {
            if read_safe {
                FnVerdict::Read
            } else {
                FnVerdict::Write
            }
        };
        match schema {
            Some(s) => match (found(s), entry.forced) {
                (Some(e), _) if e.forced => pick(e.read_safe),
                (_, Some(forced)) => pick(forced),
                (Some(e), None) => pick(e.read_safe),
                (None, None) => FnVerdict::Unknown,
            },
            None => {
                if let Some(forced) = entry.forced {
                    return pick(forced);
                }
                if let Some(e) = found(PG_CATALOG) {
                    return pick(e.read_safe);
                }
                if entry.schemas.is_empty() {
                    return FnVerdict::Unknown;
                }
                pick(entry.schemas.iter().all(|(_, e)| e.read_safe))
            }
        }
    }

    fn add_syntax_functions(&mut self) {
        for name in builtin::SYNTAX_FUNCTIONS {
            self.insert(PG_CATALOG, name, Volatility::Stable);
        }
    }

    fn insert(&mut self, schema: &str, name: &str, volatility: Volatility) {
        let entry = self.names.entry(name.to_owned()).or_default();
        let new = Entry::derived(volatility, name, schema);
        match entry.schemas.iter_mut().find(|(s, _)| s == schema) {
            // Another overload: keep the most volatile reading of the name.
            Some((_, e)) if !e.forced => {
                if new.volatility > e.volatility {
                    *e = new;
                }
            }
            Some(_) => {}
            None => entry.schemas.push((schema.to_owned(), new)),
        }
    }

    fn force(&mut self, schema: Option<&str>, name: &str, read_safe: bool) {
        let entry = self.names.entry(name.to_owned()).or_default();
        let Some(schema) = schema else {
            entry.forced = Some(read_safe);
            return;
        };
        match entry.schemas.iter_mut().find(|(s, _)| s == schema) {
            Some((_, e)) => {
                e.read_safe = read_safe;
                e.forced = true;
            }
            None => entry.schemas.push((
                schema.to_owned(),
                Entry {
                    volatility: Volatility::Volatile,
                    read_safe,
                    forced: true,
                },
            )),
        }
    }
}

impl Default for FunctionTable {
    fn default() -> Self {
        Self::builtin()
    }
}
