//! SQL-level PREPARE / EXECUTE / DEALLOCATE sent through the extended
//! protocol, as psycopg sends every statement (and, with prepare=True,
//! under a protocol statement of its own bound in a later batch): two
//! clients' `s1` on one shared connection stay apart.

use crate::raw::{self, Raw};
use crate::support::*;

/// Parse under `name` in one batch, bind and execute it in the next.
async fn prepared(c: &mut Raw, name: &str, sql: &str) -> raw::Reply {
    let r = c.send(&[raw::parse(name, sql), raw::sync()]).await;
    assert!(r.errors.is_empty(), "{sql}: {r:?}");
    c.send(&[raw::run(name), raw::sync()]).await
}

/// Unnamed Parse, Bind, Execute, Sync.
async fn unnamed(c: &mut Raw, sql: &str) -> raw::Reply {
    c.send(&[raw::parse("", sql), raw::run(""), raw::sync()])
        .await
}

#[tokio::test]
async fn sql_prepare_through_the_extended_protocol_stays_per_client() {
    let p = proxy_with(crate::transaction_mode(1)).await;
    let mut a = Raw::connect(p.port).await;
    let mut b = Raw::connect(p.port).await;
    let r = prepared(&mut a, "_pg3_0", "PREPARE s1 AS SELECT 'a'").await;
    assert!(r.errors.is_empty(), "{r:?}");
    let r = prepared(&mut b, "_pg3_0", "PREPARE s1 AS SELECT 'b'").await;
    assert!(r.errors.is_empty(), "b's PREPARE s1: {r:?}");
    for _ in 0..3 {
        assert_eq!(unnamed(&mut a, "EXECUTE s1").await.rows, ["a"]);
        assert_eq!(unnamed(&mut b, "EXECUTE s1").await.rows, ["b"]);
        let r = prepared(&mut a, "_pg3_1", "EXECUTE s1").await;
        assert_eq!((r.rows, r.errors), (vec!["a".to_owned()], vec![]));
        let r = prepared(&mut b, "_pg3_1", "EXECUTE s1").await;
        assert_eq!((r.rows, r.errors), (vec!["b".to_owned()], vec![]));
    }
    let r = prepared(&mut a, "_pg3_2", "DEALLOCATE s1").await;
    assert!(r.errors.is_empty(), "a's DEALLOCATE s1: {r:?}");
    assert_eq!(unnamed(&mut a, "EXECUTE s1").await.errors, ["26000"]);
    assert_eq!(unnamed(&mut b, "EXECUTE s1").await.rows, ["b"]);
    let r = unnamed(&mut b, "DEALLOCATE s1").await;
    assert!(r.errors.is_empty(), "b's DEALLOCATE s1: {r:?}");
    assert_eq!(unnamed(&mut b, "EXECUTE s1").await.errors, ["26000"]);
    // A client that never prepared s1 does not reach another's.
    let r = unnamed(&mut b, "PREPARE s1 AS SELECT 'b2'").await;
    assert!(r.errors.is_empty(), "{r:?}");
    let mut c = Raw::connect(p.port).await;
    assert_eq!(unnamed(&mut c, "EXECUTE s1").await.errors, ["26000"]);
    assert_eq!(unnamed(&mut b, "EXECUTE s1").await.rows, ["b2"]);
    p.stop().await;
}
