//! Malformed and hostile clients: each is closed alone, promptly, and the
//! proxy keeps serving everyone else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::raw::{self, startup_packet, startup_packet_version};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until EOF (or 5 s), returning what arrived.
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    out
}

async fn still_serves(p: &TestProxy) {
    let c = p.client().await;
    assert_eq!(
        c.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0),
        1
    );
}

#[tokio::test]
async fn garbage_bytes_close_that_client_only() {
    let p = proxy().await;
    let other = p.client().await;
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let _ = read_to_close(&mut s).await;
    // The connection is closed: a further read returns EOF at once.
    let mut buf = [0u8; 1];
    assert_eq!(s.read(&mut buf).await.unwrap_or(0), 0);
    assert_eq!(
        other
            .query_one("SELECT 2", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        2
    );
    still_serves(&p).await;
    p.stop().await;
}

#[tokio::test]
async fn huge_length_header_is_refused_without_allocating() {
    let p = proxy().await;
    // Startup packet claiming 1 GiB.
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    s.write_all(&(1u32 << 30).to_be_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let _ = read_to_close(&mut s).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not closed promptly"
    );
    // After authentication: a Query message claiming 1 GiB (over max_message_size).
    let mut s = authenticated_raw(&p).await;
    let mut q = vec![b'Q'];
    q.extend_from_slice(&(1u32 << 30).to_be_bytes());
    q.extend_from_slice(b"SELECT 1");
    s.write_all(&q).await.unwrap();
    let got = read_to_close(&mut s).await;
    assert!(
        got.windows(5).any(|w| w == b"08P01"),
        "expected a 08P01 FATAL, got {got:?}"
    );
    still_serves(&p).await;
    p.stop().await;
}

#[tokio::test]
async fn truncated_or_missing_startup_times_out() {
    let p = proxy_with(|c| c.listen.startup_timeout = Duration::from_millis(500)).await;
    let mut truncated = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    let full = startup_packet(&[("user", USER)]);
    truncated.write_all(&full[..full.len() - 3]).await.unwrap();
    let mut silent = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    let started = std::time::Instant::now();
    let _ = read_to_close(&mut truncated).await;
    let _ = read_to_close(&mut silent).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    still_serves(&p).await;
    p.stop().await;
}

#[tokio::test]
async fn ssl_and_gss_requests_are_answered_n() {
    let p = proxy().await;
    for code in [80_877_103u32, 80_877_104] {
        let mut s = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
        let mut req = 8u32.to_be_bytes().to_vec();
        req.extend_from_slice(&code.to_be_bytes());
        s.write_all(&req).await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(b[0], b'N');
        // The client may go on in clear text on the same connection.
        s.write_all(&startup_packet(&[("user", USER), ("database", DATABASE)]))
            .await
            .unwrap();
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(b[0], b'R', "authentication request expected");
    }
    p.stop().await;
}

#[tokio::test]
async fn protocol_3_2_is_negotiated_down_to_3_0() {
    let p = proxy().await;
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    let v32 = (3u32 << 16) | 2;
    s.write_all(&startup_packet_version(
        v32,
        &[("user", USER), ("_pq_.future", "1")],
    ))
    .await
    .unwrap();
    let (tag, body) = raw::read_message(&mut s).await.unwrap();
    assert_eq!(tag, b'v', "NegotiateProtocolVersion expected");
    assert_eq!(
        u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
        0,
        "newest minor"
    );
    assert_eq!(u32::from_be_bytes([body[4], body[5], body[6], body[7]]), 1);
    assert_eq!(&body[8..], b"_pq_.future\0");
    let mut tag = [0u8; 1];
    s.read_exact(&mut tag).await.unwrap();
    assert_eq!(tag[0], b'R');
    p.stop().await;
}

#[tokio::test]
async fn client_vanishing_mid_query_cancels_its_backend_query() {
    let p = proxy().await;
    let info = p.conninfo("application_name=vanisher");
    let (c, conn) = tokio_postgres::connect(&info, tokio_postgres::NoTls)
        .await
        .unwrap();
    let conn_task = tokio::spawn(conn);
    let q = tokio::spawn(async move { c.simple_query("SELECT pg_sleep(60)").await });
    // A read: it may run on the primary or on the replica.
    let mut nodes = Vec::new();
    for n in cluster().nodes() {
        nodes.push(direct(n).await);
    }
    let active = "SELECT count(*) FROM pg_stat_activity \
                  WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'";
    let count = || async {
        let mut total = 0;
        for c in &nodes {
            total += c.query_one(active, &[]).await.unwrap().get::<_, i64>(0);
        }
        total
    };
    let running = eventually(Duration::from_secs(5), || async { count().await == 1 }).await;
    assert!(running, "the query never started");
    // Drop the client's socket abruptly.
    conn_task.abort();
    q.abort();
    let gone = eventually(Duration::from_secs(5), || async { count().await == 0 }).await;
    assert!(gone, "the abandoned query kept running on the backend");
    still_serves(&p).await;
    p.stop().await;
}

/// A raw socket that completed SCRAM through tokio-postgres is not
/// available, so authenticate with md5 by hand (a user configured for md5).
async fn authenticated_raw(p: &TestProxy) -> TcpStream {
    ensure_md5_user(cluster());
    raw::md5_session(p.port).await.unwrap()
}
