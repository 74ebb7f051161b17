//! A pipeline sent in parts (Flush, or the proxy's own 256 KiB cut) stays
//! one implicit transaction on its server connection, whatever the proxy
//! has to bring that connection up to date.

use crate::raw::{flush, parse, run, sync, Raw};
use crate::support::*;

/// The second part binds a statement prepared earlier on another server
/// connection. Bringing the connection up to date would take a round trip
/// with Sync there, committing the first part ahead of the client's Sync;
/// the part goes as it is instead, the server refuses the unknown
/// statement, and the whole pipeline rolls back as the client expects of
/// an error before Sync.
#[tokio::test]
async fn a_later_part_needing_a_statement_the_connection_lacks_keeps_the_pipeline_whole() {
    ensure_md5_user(cluster());
    let setup_proxy = proxy().await;
    let setup = setup_proxy.client().await;
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS tp_pipeline; CREATE TABLE tp_pipeline (v int);
             GRANT ALL ON tp_pipeline TO md5user",
        )
        .await
        .unwrap();
    let p = proxy_with(crate::transaction_mode(1)).await;
    let mut a = Raw::connect(p.port).await;
    // s1 is prepared on the replica's connection.
    let r = a
        .send(&[parse("s1", "/* pgsplit:replica */ SELECT 42"), sync()])
        .await;
    assert!(r.errors.is_empty(), "{r:?}");
    let step = |sql: &str| [parse("", sql), run("")].concat();
    a.write(&[step("INSERT INTO tp_pipeline VALUES (1)"), flush()])
        .await;
    a.rows_through(1).await;
    // On the primary's connection, which lacks s1.
    let r = a.send(&[run("s1"), step("SELECT 1/0"), sync()]).await;
    assert_eq!(r.errors, ["26000"], "the server's: no such statement");
    let n: i64 = setup
        .query_one(
            "/* pgsplit:primary */ SELECT count(*) FROM tp_pipeline",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        n, 0,
        "the first part was committed before the client's Sync"
    );
    p.stop().await;
    setup_proxy.stop().await;
}
