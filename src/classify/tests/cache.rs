use super::super::{Class, ClassifyCache, FunctionTable};

#[test]
fn hits_misses_and_eviction() {
    let t = FunctionTable::builtin();
    let mut cache = ClassifyCache::new(2);
    assert!(cache.classify("SELECT 1", &t).class.is_read());
    assert!(cache.classify("SELECT 1", &t).class.is_read());
    assert_eq!(cache.stats(), (1, 1));
    cache.classify("SELECT 2", &t);
    cache.classify("SELECT 3", &t); // evicts "SELECT 1"
    assert_eq!(cache.len(), 2);
    cache.classify("SELECT 1", &t);
    assert_eq!(cache.stats(), (1, 4));
}

#[test]
fn new_function_table_invalidates() {
    let before = FunctionTable::from_rows([("public".into(), "f".into(), 'v')]);
    let mut cache = ClassifyCache::new(16);
    assert!(cache.classify("SELECT f()", &before).class.is_write());
    let after = FunctionTable::from_rows([("public".into(), "f".into(), 's')]);
    assert_eq!(cache.classify("SELECT f()", &after).class, Class::Read);
    assert_eq!(cache.stats(), (0, 2));
    // Same table again: a hit.
    cache.classify("SELECT f()", &after);
    assert_eq!(cache.stats(), (1, 2));
}

#[test]
fn zero_capacity_and_huge_texts() {
    let t = FunctionTable::builtin();
    let mut cache = ClassifyCache::new(0);
    cache.classify("SELECT 1", &t);
    assert_eq!(cache.len(), 1);
    let huge = format!("SELECT 1 {}", " ".repeat(super::super::MAX_CACHED_SQL_LEN));
    let mut cache = ClassifyCache::new(4);
    assert!(cache.classify(&huge, &t).class.is_read());
    assert!(cache.is_empty());
}
