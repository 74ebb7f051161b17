//! `lastval()` and `currval()` read the sequence state of the server
//! connection they run on. In transaction mode the session's previous
//! statement may have run on a connection that served other clients
//! since: the proxy then refuses (55000) instead of answering with another
//! client's value.

use crate::support::*;
use tokio_postgres::Client;

async fn insert(c: &Client, who: &str) -> i32 {
    c.query_one("INSERT INTO tp_seq (who) VALUES ($1) RETURNING id", &[&who])
        .await
        .unwrap()
        .get(0)
}

/// The row `lastval()` names, or the error's SQLSTATE.
async fn last(c: &Client, sql: &str) -> Result<i64, String> {
    match c.query_one(sql, &[]).await {
        Ok(row) => Ok(row.get(0)),
        Err(e) => Err(sqlstate(&e)),
    }
}

#[tokio::test]
async fn lastval_is_the_sessions_own_or_refused() {
    let p = proxy_with(crate::transaction_mode(1)).await;
    let setup = p.client().await;
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS tp_seq;
             CREATE TABLE tp_seq (id serial PRIMARY KEY, who text NOT NULL)",
        )
        .await
        .unwrap();
    let (a, b) = (p.client().await, p.client().await);

    // Nobody in between: the session's own value.
    let mine = insert(&a, "a").await;
    assert_eq!(last(&a, "SELECT lastval()").await, Ok(i64::from(mine)));
    assert_eq!(
        last(&a, "SELECT currval('tp_seq_id_seq')").await,
        Ok(i64::from(mine))
    );

    // Another client wrote on that connection since: refused, never b's id.
    insert(&a, "a").await;
    let theirs = insert(&b, "b").await;
    let got = last(&a, "SELECT lastval()").await;
    assert_ne!(got, Ok(i64::from(theirs)), "a read b's sequence value");
    assert_eq!(got, Err("55000".to_owned()));
    // The classic parent/child insert in one statement is judged the same.
    let e = a
        .batch_execute("INSERT INTO tp_seq (who) SELECT 'child of ' || lastval()")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "55000");

    // Inside a transaction the connection is the session's throughout.
    a.batch_execute("BEGIN").await.unwrap();
    let mine = insert(&a, "a").await;
    assert_eq!(last(&a, "SELECT lastval()").await, Ok(i64::from(mine)));
    a.batch_execute("COMMIT").await.unwrap();
    p.stop().await;
}
