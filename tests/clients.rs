//! Real clients (tokio-postgres) through the proxy against a real primary +
//! streaming replica.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use support::*;
use tokio_postgres::{AsyncMessage, NoTls, SimpleQueryMessage};

#[tokio::test]
async fn simple_and_extended_queries_with_binary_parameters() {
    let p = proxy().await;
    let c = p.client().await;
    let rows = c.simple_query("SELECT 1 AS one, 'x' AS two").await.unwrap();
    let row = rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => Some(r),
        _ => None,
    });
    assert_eq!(row.unwrap().get("two"), Some("x"));
    // Extended protocol, binary parameters and results.
    let row = c
        .query_one(
            "SELECT $1::int8 + 1, $2::text || '!', $3::bytea",
            &[&41i64, &"hi", &vec![0u8, 255]],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 42);
    assert_eq!(row.get::<_, String>(1), "hi!");
    assert_eq!(row.get::<_, Vec<u8>>(2), vec![0u8, 255]);
    // A named prepared statement reused.
    let stmt = c.prepare("SELECT $1::int4 * 2").await.unwrap();
    for i in 0..5i32 {
        assert_eq!(
            c.query_one(&stmt, &[&i]).await.unwrap().get::<_, i32>(0),
            i * 2
        );
    }
    p.stop().await;
}

#[tokio::test]
async fn copy_in_and_out() {
    let p = proxy().await;
    let c = p.client().await;
    c.batch_execute("DROP TABLE IF EXISTS copy_t; CREATE TABLE copy_t (id int, name text)")
        .await
        .unwrap();
    let sink = c.copy_in("COPY copy_t FROM STDIN").await.unwrap();
    let mut sink = Box::pin(sink);
    let mut data = String::new();
    for i in 0..5000 {
        data.push_str(&format!("{i}\tname {i}\n"));
    }
    for chunk in data.as_bytes().chunks(7000) {
        sink.send(bytes::Bytes::copy_from_slice(chunk))
            .await
            .unwrap();
    }
    let n = sink.as_mut().finish().await.unwrap();
    assert_eq!(n, 5000);
    let stream = c.copy_out("COPY copy_t TO STDOUT").await.unwrap();
    let chunks: Vec<_> = stream.collect().await;
    let out: Vec<u8> = chunks
        .into_iter()
        .flat_map(|c| c.unwrap().to_vec())
        .collect();
    assert_eq!(out, data.as_bytes());
    // The session is usable after COPY.
    let n: i64 = c
        .query_one("SELECT count(*) FROM copy_t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5000);
    p.stop().await;
}

#[tokio::test]
async fn cancel_reaches_the_running_query() {
    let p = proxy().await;
    let c = p.client().await;
    let token = c.cancel_token();
    let started = std::time::Instant::now();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel_query(NoTls).await
    });
    let err = c.simple_query("SELECT pg_sleep(30)").await.unwrap_err();
    assert_eq!(sqlstate(&err), "57014", "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    canceller.await.unwrap().unwrap();
    // The session goes on.
    assert_eq!(
        c.query_one("SELECT 7", &[]).await.unwrap().get::<_, i32>(0),
        7
    );
    p.stop().await;
}

#[tokio::test]
async fn listen_notify_is_delivered_while_idle() {
    let p = proxy().await;
    let (listener, mut conn) = tokio_postgres::connect(&p.conninfo(""), NoTls)
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = stream.next().await {
            if let Ok(AsyncMessage::Notification(n)) = m {
                let _ = tx.send((n.channel().to_owned(), n.payload().to_owned()));
            }
        }
    });
    listener.batch_execute("LISTEN pgsplit_chan").await.unwrap();
    let sender = p.client().await;
    sender
        .batch_execute("NOTIFY pgsplit_chan, 'hello'")
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, ("pgsplit_chan".to_owned(), "hello".to_owned()));
    p.stop().await;
}

#[tokio::test]
async fn error_inside_transaction_then_rollback() {
    let p = proxy().await;
    let c = p.client().await;
    c.batch_execute("BEGIN").await.unwrap();
    let e = c.simple_query("SELECT 1/0").await.unwrap_err();
    assert_eq!(sqlstate(&e), "22012");
    let e = c.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(sqlstate(&e), "25P02");
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        c.query_one("SELECT 3", &[]).await.unwrap().get::<_, i32>(0),
        3
    );
    // An error in the extended protocol leaves the session usable too.
    let e = c.query("SELECT $1::int4 / 0", &[&1i32]).await.unwrap_err();
    assert_eq!(sqlstate(&e), "22012");
    assert_eq!(
        c.query_one("SELECT 4", &[]).await.unwrap().get::<_, i32>(0),
        4
    );
    p.stop().await;
}

#[tokio::test]
async fn large_result_and_large_query_text() {
    let p = proxy().await;
    let c = p.client().await;
    let rows = c
        .query(
            "SELECT g, repeat('x', 20) FROM generate_series(1, 100000) g",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 100_000);
    assert_eq!(rows[99_999].get::<_, i32>(0), 100_000);
    let big = "y".repeat(1024 * 1024);
    let sql = format!("SELECT length('{big}')");
    let rows = c.simple_query(&sql).await.unwrap();
    let len = rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
        _ => None,
    });
    assert_eq!(len.as_deref(), Some("1048576"));
    p.stop().await;
}

#[tokio::test]
async fn authentication_errors_have_the_right_sqlstate() {
    let p = proxy().await;
    let connect =
        |info: String| async move { tokio_postgres::connect(&info, NoTls).await.map(|_| ()) };
    let port = p.port;
    let wrong = connect(format!(
        "host=127.0.0.1 port={port} user={USER} password=nope dbname={DATABASE}"
    ))
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&wrong), "28P01");
    let unknown = connect(format!(
        "host=127.0.0.1 port={port} user=ghost password=nope dbname={DATABASE}"
    ))
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&unknown), "28P01");
    // Same message shape for both: no user enumeration.
    let strip =
        |e: &tokio_postgres::Error, u: &str| e.as_db_error().unwrap().message().replace(u, "U");
    assert_eq!(strip(&wrong, USER), strip(&unknown, "ghost"));
    let nodb = connect(format!(
        "host=127.0.0.1 port={port} user={USER} password={PASSWORD} dbname=nope"
    ))
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&nodb), "3D000");
    // A user configured with auth = "md5" authenticates to the proxy with md5.
    ensure_md5_user(cluster());
    connect(format!(
        "host=127.0.0.1 port={port} user=md5user password={PASSWORD} dbname={DATABASE}"
    ))
    .await
    .unwrap();
    let e = connect(format!(
        "host=127.0.0.1 port={port} user=md5user password=bad dbname={DATABASE}"
    ))
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&e), "28P01");
    p.stop().await;
}

#[tokio::test]
async fn too_many_clients_get_53300() {
    let p = proxy_with(|c| c.listen.max_clients = 2).await;
    let _a = p.client().await;
    let _b = p.client().await;
    let e = tokio_postgres::connect(&p.conninfo(""), NoTls)
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(sqlstate(&e), "53300");
    p.stop().await;
}

#[tokio::test]
async fn checkout_timeout_gives_53300_with_a_clear_message() {
    let p = proxy_with(|c| {
        c.pool.max_per_backend = 1;
        c.pool.checkout_timeout = Duration::from_millis(300);
    })
    .await;
    // The holder's write keeps its primary connection for the session.
    let holder = p.client().await;
    holder.batch_execute("SELECT txid_current()").await.unwrap();
    // Logging in needs no backend connection (the greeting is known); the
    // first write waits for one and gives up after checkout_timeout.
    let waiter = p.client().await;
    let e = waiter
        .batch_execute("SELECT txid_current()")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "53300");
    let msg = e.as_db_error().unwrap().message().to_owned();
    assert!(msg.contains("became free"), "{msg}");
    // Reads still run: the replica's pool has room.
    waiter.batch_execute("SELECT 1").await.unwrap();
    drop(holder);
    // Once the holder is gone its connection returns to the pool.
    let ok = eventually(Duration::from_secs(5), || async {
        waiter.batch_execute("SELECT txid_current()").await.is_ok()
    })
    .await;
    assert!(ok, "the pooled connection was not returned");
    p.stop().await;
}

#[tokio::test]
async fn session_settings_reach_the_backend_and_are_reset_for_the_next_client() {
    let p = proxy_with(|c| c.pool.max_per_backend = 1).await;
    {
        let c = p
            .client_with("application_name=first options='-c search_path=public,pg_catalog'")
            .await;
        let row = c
            .query_one(
                "SELECT current_setting('application_name'), current_setting('search_path')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "first");
        assert_eq!(row.get::<_, String>(1), "public,pg_catalog");
        c.batch_execute("SET work_mem = '7MB'").await.unwrap();
    }
    // Same single pooled connection, new client: nothing of the first leaks.
    let ok = eventually(Duration::from_secs(5), || async {
        match tokio_postgres::connect(&p.conninfo(""), NoTls).await {
            Ok((c, conn)) => {
                tokio::spawn(conn);
                let row = c
                    .query_one(
                        "SELECT current_setting('application_name'), current_setting('work_mem')",
                        &[],
                    )
                    .await
                    .unwrap();
                row.get::<_, String>(0).is_empty() && row.get::<_, String>(1) != "7MB"
            }
            Err(_) => false,
        }
    })
    .await;
    assert!(ok, "session state leaked to the next client");
    p.stop().await;
}
