//! Failover on real clusters. Each test starts its OWN cluster (they kill,
//! promote and restart nodes) and runs alone (one cluster at a time on a
//! small machine). Measured times are printed (`-- --nocapture`).

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pgsplit::cluster::{Cluster, Node, StopMode};
use pgsplit::topology::{Role, Topology};
use support::eventually;
use support::own::{self, addrs, blocking, client, config, try_client};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_postgres::Client;

const CHECKOUT: Duration = Duration::from_secs(2);

/// One cluster at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn cluster(replicas: usize) -> Cluster {
    // pg_rewind needs hint bits WAL-logged (or data checksums).
    own::cluster(replicas, &["wal_log_hints = on"])
}

/// The error a new client gets for a write. Today a session opens on the
/// primary, so without one the connection itself is refused, with the same
/// message; either way it is an answer, not a hang.
async fn write_error(proxy: &pgsplit::Proxy, sql: &str) -> tokio_postgres::Error {
    let started = Instant::now();
    let e = match try_client(proxy.addr.port()).await {
        Ok(c) => c.simple_query(sql).await.expect_err("write accepted"),
        Err(e) => e,
    };
    assert!(
        started.elapsed() < CHECKOUT,
        "answer took {:?}",
        started.elapsed()
    );
    e
}

fn topo(proxy: &pgsplit::Proxy) -> Topology {
    (**proxy.topology.borrow()).clone()
}

fn count(node: &Node, sql: &str) -> i64 {
    let out = node
        .psql_db("app", sql)
        .unwrap_or_else(|e| panic!("{}: {e}", node.name));
    out.parse().unwrap_or_else(|e| panic!("{out:?}: {e}"))
}

/// Until a write through `c` succeeds; returns the time it took.
async fn first_write(c: &Client, sql: &str, limit: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        match c.simple_query(sql).await {
            Ok(_) => return t0.elapsed(),
            Err(e) if t0.elapsed() < limit => {
                tracing::debug!("write not yet accepted: {e}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("no write succeeded within {limit:?}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_promote_fence_rejoin() {
    let _serial = SERIAL.lock().await;
    let cluster = cluster(1);
    let (old, new) = (cluster.primary().clone(), cluster.replicas()[0].clone());
    let proxy = pgsplit::start(config(&addrs(&cluster), "")).await.unwrap();
    let c = client(proxy.addr.port()).await;
    c.simple_query("CREATE TABLE t (id int)").await.unwrap();
    c.simple_query("INSERT INTO t VALUES (1)").await.unwrap();

    // 1. The primary dies: writes fail fast with a clear error, the proxy stays up.
    blocking(|| old.stop(StopMode::Immediate)).unwrap();
    let t0 = Instant::now();
    let clear = eventually(Duration::from_secs(5), || async {
        let started = Instant::now();
        let e = c
            .simple_query("INSERT INTO t VALUES (2)")
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < CHECKOUT,
            "write took {:?}",
            started.elapsed()
        );
        e.as_db_error()
            .is_some_and(|d| d.message().contains("no primary is available"))
    })
    .await;
    assert!(clear, "writes never said 'no primary is available'");
    println!(
        "primary killed → 'no primary' error after {:?}",
        t0.elapsed()
    );
    // New clients get a clear answer too.
    let e = write_error(&proxy, "INSERT INTO t VALUES (2)").await;
    assert_eq!(support::sqlstate(&e), "08006", "{e}");

    // 2. Promotion: writes reach the new primary almost at once.
    blocking(|| new.promote()).unwrap();
    let took = first_write(&c, "INSERT INTO t VALUES (3)", Duration::from_secs(5)).await;
    println!("promote() returned → first successful write through the proxy: {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "promotion followed in {took:?}"
    );
    assert_eq!(count(&new, "SELECT count(*) FROM t WHERE id = 3"), 1);

    // 3. The old primary comes back unchanged: fenced, and no write reaches it.
    blocking(|| old.start()).unwrap();
    let fenced = eventually(Duration::from_secs(5), || async {
        let t = topo(&proxy);
        t.backends[0].role == Role::StalePrimary && t.backends[0].fenced.is_some()
    })
    .await;
    assert!(fenced, "old primary not fenced: {:?}", topo(&proxy));
    println!("{}", pgsplit::topology::status::render(&topo(&proxy)));
    for i in 0..20 {
        let fresh = client(proxy.addr.port()).await;
        for cl in [&c, &fresh] {
            cl.simple_query(&format!("INSERT INTO t VALUES ({})", 1000 + i))
                .await
                .unwrap();
        }
    }
    assert_eq!(count(&old, "SELECT count(*) FROM t WHERE id >= 2"), 0);
    assert_eq!(count(&new, "SELECT count(*) FROM t WHERE id >= 1000"), 40);
    assert!(!topo(&proxy).readable(0));

    // 4. pgsplit rejoin turns it into a replica; the proxy admits it for reads.
    blocking(|| old.stop(StopMode::Fast)).unwrap();
    let opts = pgsplit::rejoin::RejoinOptions {
        data_dir: old.data_dir.clone(),
        primary: new.addr().to_string(),
        user: "postgres".into(),
        password: Some(cluster.superuser_password().into()),
        pg_bin: None,
        force_basebackup: false,
    };
    let done = blocking(|| pgsplit::rejoin::rejoin(&opts)).unwrap();
    println!(
        "rejoin: {:?} (rewind error: {:?}); {}",
        done.method, done.rewind_error, done.start_hint
    );
    assert_eq!(done.method, pgsplit::rejoin::Method::Rewind);
    blocking(|| old.start()).unwrap();
    let t0 = Instant::now();
    let readable = eventually(Duration::from_secs(10), || async {
        topo(&proxy).readable(0)
    })
    .await;
    assert!(readable, "rejoined node not readable: {:?}", topo(&proxy));
    println!("rejoined node readable after {:?}", t0.elapsed());
    c.simple_query("INSERT INTO t VALUES (5000)").await.unwrap();
    let replicated = eventually(Duration::from_secs(10), || async {
        count(&old, "SELECT count(*) FROM t WHERE id = 5000") == 1
    })
    .await;
    assert!(
        replicated,
        "rejoined node does not stream from the new primary; its log:\n{}",
        std::fs::read_to_string(old.log_path()).unwrap_or_default()
    );
    assert!(blocking(|| old.is_in_recovery()).unwrap());
    proxy.stop(Duration::from_secs(1)).await;
}

/// A TCP relay to `target` that can be cut (the proxy alone loses the server).
async fn forwarder(target: SocketAddr) -> (SocketAddr, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind forwarder");
    let addr = listener.local_addr().expect("forwarder address");
    let (cut, rx) = watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if *rx.borrow() {
                continue; // dropped: the connection closes at once
            }
            let mut rx = rx.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(target).await else {
                    return;
                };
                tokio::select! {
                    biased;
                    _ = rx.wait_for(|c| *c) => {}
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                }
            });
        }
    });
    (addr, cut)
}

const AUTO: &str = "[failover]\nauto_promote = true\ntimeout = \"1s\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_promotion_when_the_primary_dies() {
    let _serial = SERIAL.lock().await;
    let cluster = cluster(1);
    let (old, replica) = (cluster.primary().clone(), cluster.replicas()[0].clone());
    let proxy = pgsplit::start(config(&addrs(&cluster), AUTO))
        .await
        .unwrap();
    let c = client(proxy.addr.port()).await;
    blocking(|| old.stop(StopMode::Immediate)).unwrap();
    let t0 = Instant::now();
    let took = first_write(
        &c,
        "CREATE TABLE after_failover (id int)",
        Duration::from_secs(20),
    )
    .await;
    println!("primary killed → auto-promotion → first write: {took:?}");
    assert!(!blocking(|| replica.is_in_recovery()).unwrap());
    assert_eq!(topo(&proxy).primary, Some(1));
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "promoted before failover.timeout"
    );
    proxy.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_promotion_when_only_the_proxy_lost_the_primary() {
    let _serial = SERIAL.lock().await;
    let cluster = cluster(1);
    let replica = cluster.replicas()[0].clone();
    let (via, cut) = forwarder(cluster.primary().addr()).await;
    let backends = vec![via.to_string(), replica.addr().to_string()];
    let proxy = pgsplit::start(config(&backends, AUTO)).await.unwrap();
    assert_eq!(topo(&proxy).primary, Some(0));
    cut.send_replace(true);
    let lost = eventually(Duration::from_secs(5), || async {
        topo(&proxy).primary.is_none()
    })
    .await;
    assert!(lost, "proxy did not notice the cut");
    // Well past failover.timeout: the replica still streams, so no promotion.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(blocking(|| replica.is_in_recovery()).unwrap());
    let t = topo(&proxy);
    assert_eq!(t.primary, None);
    assert_eq!(t.backends[1].wal_receiver.as_deref(), Some("streaming"));
    // The link comes back: the same primary again, writes work.
    cut.send_replace(false);
    let t0 = Instant::now();
    let back = eventually(Duration::from_secs(5), || async {
        topo(&proxy).primary == Some(0)
    })
    .await;
    assert!(back, "primary not back: {:?}", topo(&proxy));
    println!("link restored → primary back after {:?}", t0.elapsed());
    let c = client(proxy.addr.port()).await;
    c.simple_query("CREATE TABLE after_split (id int)")
        .await
        .unwrap();
    proxy.stop(Duration::from_secs(1)).await;
}

/// What two proxies must agree on, by backend address.
fn verdict(t: &Topology) -> Vec<(String, Role, bool, bool)> {
    let mut v: Vec<_> = t
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let primary = t.primary == Some(i);
            (b.addr.to_string(), b.role, primary, b.fenced.is_some())
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_agree_in_either_order() {
    let _serial = SERIAL.lock().await;
    let cluster = cluster(2);
    let (old, new) = (cluster.primary().clone(), cluster.replicas()[0].clone());
    blocking(|| old.stop(StopMode::Immediate)).unwrap();
    blocking(|| new.promote()).unwrap();
    blocking(|| old.start()).unwrap();
    let forward = addrs(&cluster);
    let mut reversed = forward.clone();
    reversed.reverse();
    let settled =
        |t: &Topology| t.primary.is_some() && t.backends.iter().all(|b| b.up || b.fenced.is_some());
    let mut seen = Vec::new();
    for order in [[&forward, &reversed], [&reversed, &forward]] {
        let a = pgsplit::start(config(order[0], "")).await.unwrap();
        let b = pgsplit::start(config(order[1], "")).await.unwrap();
        for p in [&a, &b] {
            let ok = eventually(Duration::from_secs(5), || async { settled(&topo(p)) }).await;
            assert!(ok, "not settled: {:?}", topo(p));
        }
        assert_eq!(verdict(&topo(&a)), verdict(&topo(&b)));
        seen.push(verdict(&topo(&a)));
        a.stop(Duration::from_secs(1)).await;
        b.stop(Duration::from_secs(1)).await;
    }
    assert_eq!(seen[0], seen[1]);
    let stale = seen[0]
        .iter()
        .find(|v| v.0 == old.addr().to_string())
        .unwrap();
    assert_eq!((stale.1, stale.3), (Role::StalePrimary, true));
    let primary = seen[0].iter().find(|v| v.2).unwrap();
    assert_eq!(primary.0, new.addr().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_file_refuses_old_primary_after_restart() {
    let _serial = SERIAL.lock().await;
    let cluster = cluster(1);
    let (old, new) = (cluster.primary().clone(), cluster.replicas()[0].clone());
    let state = cluster.root().join("pgsplit-state.json");
    let with_state = format!("state_file = \"{}\"\n", state.display());
    // [health] is already open in the base config: append keys to it.
    let proxy = pgsplit::start(config(&addrs(&cluster), &with_state))
        .await
        .unwrap();
    blocking(|| old.stop(StopMode::Immediate)).unwrap();
    blocking(|| new.promote()).unwrap();
    let followed = eventually(Duration::from_secs(5), || async {
        topo(&proxy).primary == Some(1)
    })
    .await;
    assert!(followed);
    proxy.stop(Duration::from_secs(1)).await;
    let text = std::fs::read_to_string(&state).unwrap();
    println!("state file: {text}");

    // Now the new primary is down and the old one is back.
    blocking(|| new.stop(StopMode::Immediate)).unwrap();
    blocking(|| old.start()).unwrap();
    // `pgsplit status` (one probe round with the same config) sees it too.
    let once = pgsplit::topology::status::probe_once(&config(&addrs(&cluster), &with_state)).await;
    let table = pgsplit::topology::status::render(&once);
    println!("{table}");
    assert!(table.contains("stale-primary  fenced"), "{table}");
    let proxy = pgsplit::start(config(&addrs(&cluster), &with_state))
        .await
        .unwrap();
    let t = topo(&proxy);
    assert_eq!(t.primary, None, "{t:?}");
    assert_eq!(t.backends[0].role, Role::StalePrimary);
    let e = write_error(&proxy, "CREATE TABLE nope (id int)").await;
    let msg = e.as_db_error().map(|d| d.message().to_string());
    assert!(msg.is_some_and(|m| m.contains("no primary")), "{e}");
    proxy.stop(Duration::from_secs(1)).await;
    assert_eq!(
        count(
            &old,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'nope'"
        ),
        0
    );

    // Without the state file the old primary would look fine: that is why it exists.
    let forgetful = pgsplit::start(config(&addrs(&cluster), "")).await.unwrap();
    assert_eq!(topo(&forgetful).primary, Some(0));
    forgetful.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoin_with_a_fresh_base_backup() {
    let _serial = SERIAL.lock().await;
    let cluster = cluster(1);
    let (old, new) = (cluster.primary().clone(), cluster.replicas()[0].clone());
    let proxy = pgsplit::start(config(&addrs(&cluster), "")).await.unwrap();
    blocking(|| old.stop(StopMode::Immediate)).unwrap();
    blocking(|| new.promote()).unwrap();
    let opts = pgsplit::rejoin::RejoinOptions {
        data_dir: old.data_dir.clone(),
        primary: new.addr().to_string(),
        user: "postgres".into(),
        password: Some(cluster.superuser_password().into()),
        pg_bin: None,
        force_basebackup: true,
    };
    let done = blocking(|| pgsplit::rejoin::rejoin(&opts)).unwrap();
    assert_eq!(done.method, pgsplit::rejoin::Method::Basebackup);
    let aside = done.moved_aside.expect("old data directory kept");
    assert!(aside.join("PG_VERSION").is_file(), "{}", aside.display());
    // Its own port (pgsplit_port.conf) was kept, not the new primary's.
    blocking(|| old.start()).unwrap();
    let readable = eventually(Duration::from_secs(10), || async {
        topo(&proxy).readable(0)
    })
    .await;
    assert!(
        readable,
        "base-backed-up node not readable: {:?}",
        topo(&proxy)
    );
    assert!(blocking(|| old.is_in_recovery()).unwrap());
    proxy.stop(Duration::from_secs(1)).await;
}

/// A network link to `target` that can be cut and healed, as a partition
/// would: while cut, what either side sends waits in the network (here: in
/// the relay's sockets, unread); when healed it is delivered, unless the
/// sender reset its connection meanwhile (a reset connection's queued
/// segments die with it, as the kernel's retransmission queue does).
async fn partition(target: SocketAddr) -> (SocketAddr, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind partition relay");
    let addr = listener.local_addr().expect("relay address");
    let (cut, rx) = watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut rx = rx.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(target).await else {
                    return;
                };
                loop {
                    if rx.wait_for(|c| !*c).await.is_err() {
                        return;
                    }
                    if matches!(inbound.take_error(), Ok(Some(_)) | Err(_)) {
                        return;
                    }
                    // The cut first: once it is set, no poll of this task
                    // relays another byte (unbiased, a request sent just
                    // after the cut could still slip through).
                    tokio::select! {
                        biased;
                        _ = rx.wait_for(|c| *c) => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
                    }
                }
            });
        }
    });
    (addr, cut)
}

/// Split-brain through a request already sent: the primary is cut off
/// with a write in flight, the replica is promoted, then the link heals.
/// The write must not land on the old primary, and the client must hear
/// that its outcome is unknown (08007) when the primary moves, not hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_in_flight_to_a_cut_off_primary_never_lands_after_failover() {
    let _serial = SERIAL.lock().await;
    let cluster = cluster(1);
    let (old, new) = (cluster.primary().clone(), cluster.replicas()[0].clone());
    let (via, cut) = partition(old.addr()).await;
    let backends = vec![via.to_string(), new.addr().to_string()];
    let proxy = pgsplit::start(config(&backends, "")).await.unwrap();
    let c = client(proxy.addr.port()).await;
    c.simple_query("CREATE TABLE inflight (id int)")
        .await
        .unwrap();
    let replicated = eventually(Duration::from_secs(10), || async {
        count(
            &new,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'inflight'",
        ) == 1
    })
    .await;
    assert!(replicated, "the table never reached the replica");

    cut.send_replace(true);
    let write = tokio::spawn(async move {
        let r = c.simple_query("INSERT INTO inflight VALUES (1)").await;
        (c, r)
    });
    let lost = eventually(Duration::from_secs(10), || async {
        topo(&proxy).primary.is_none()
    })
    .await;
    assert!(lost, "the proxy did not notice the cut");
    blocking(|| new.promote()).unwrap();
    let promoted = Instant::now();
    let moved = eventually(Duration::from_secs(5), || async {
        topo(&proxy).primary == Some(1)
    })
    .await;
    assert!(moved, "the promotion was not followed: {:?}", topo(&proxy));
    let answered = tokio::time::timeout(Duration::from_secs(5), write).await;
    println!(
        "promoted → in-flight write answered after {:?}",
        promoted.elapsed()
    );

    // The partition heals: whatever is still queued for the old primary
    // reaches it now.
    cut.send_replace(false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let landed = count(&old, "SELECT count(*) FROM inflight");
    assert_eq!(
        landed, 0,
        "a write sent before the failover landed on the old primary when the \
         partition healed (its answer before healing: {answered:?})"
    );
    let (c, r) = answered
        .expect("the client still waited for its write 5 s after the promotion")
        .unwrap();
    let e = r.expect_err("a write that never ran was acknowledged");
    assert_eq!(support::sqlstate(&e), "08007", "{e}");
    // The session goes on, on the new primary.
    c.simple_query("INSERT INTO inflight VALUES (2)")
        .await
        .unwrap();
    assert_eq!(count(&new, "SELECT count(*) FROM inflight WHERE id = 2"), 1);
    assert_eq!(count(&old, "SELECT count(*) FROM inflight"), 0);
    proxy.stop(Duration::from_secs(1)).await;
}
