//! Faults under load, on real servers: a backend killed mid-query, a
//! backend that accepts TCP and never answers, a replica that disappears
//! under a select-only pgbench, and a failover during a write load
//! (`faults/write_load.rs`). Tests that kill or promote servers start their
//! own cluster and run one at a time; every step is bounded in time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "faults/write_load.rs"]
mod write_load;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgsplit::cluster::StopMode;
use support::own::{self, addrs, blocking, client, config, try_client};
use support::{eventually, PASSWORD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_postgres::Client;

/// Bound of each test's body.
const BOUND: Duration = Duration::from_secs(60);

/// One private cluster at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(BOUND, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {BOUND:?}"),
    }
}

/// Connections the proxy's pools hold to a backend, by the server's view.
async fn server_connections(direct: &Client, like: &str) -> i64 {
    direct
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' \
             AND backend_type = 'client backend' AND pid <> pg_backend_pid() \
             AND coalesce(query, '') NOT LIKE $1",
            &[&like],
        )
        .await
        .unwrap()
        .get(0)
}

/// Starts `SELECT pg_sleep(30)` on the primary through `client` and waits
/// until the server runs it; the query's task (which hands the client back)
/// and the server process's pid.
async fn sleep_on_primary(
    client: Client,
    direct: &Client,
    which: &str,
) -> (
    tokio::task::JoinHandle<(
        Client,
        Result<Vec<tokio_postgres::SimpleQueryMessage>, tokio_postgres::Error>,
    )>,
    i32,
) {
    let q = tokio::spawn(async move {
        let r = client
            .simple_query("/* pgsplit:primary */ SELECT pg_sleep(30)")
            .await;
        (client, r)
    });
    let sleeping = "SELECT pid FROM pg_stat_activity WHERE query LIKE '%SELECT pg_sleep(30)' \
                    AND state = 'active' AND pid <> pg_backend_pid()";
    let found = eventually(Duration::from_secs(5), || async {
        !direct.query(sleeping, &[]).await.unwrap().is_empty()
    })
    .await;
    assert!(found, "the query never started{which}");
    let pid: i32 = direct.query_one(sleeping, &[]).await.unwrap().get(0);
    (q, pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_killed_mid_query() {
    let _serial = SERIAL.lock().await;
    let cluster = own::cluster(1, &[]);
    let proxy = pgsplit::start(config(&addrs(&cluster), "")).await.unwrap();
    let port = proxy.addr.port();
    bounded("backend killed mid-query", async {
        let direct = support::direct(cluster.primary()).await;
        let victim = client(port).await;
        let bystander = client(port).await;
        bystander
            .simple_query("CREATE TABLE k (id int)")
            .await
            .unwrap();

        // 1. The server process running the query is terminated.
        let (q, pid) = sleep_on_primary(victim, &direct, "").await;
        let t0 = Instant::now();
        direct
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap();
        let (victim, r) = q.await.unwrap();
        let e = r.expect_err("the killed query succeeded");
        println!(
            "terminated backend → client error after {:?}: {e}",
            t0.elapsed()
        );
        assert!(t0.elapsed() < Duration::from_secs(3));
        assert!(e.code().is_some(), "a proper ErrorResponse expected: {e}");
        // The bystander never noticed; the victim's session goes on.
        bystander
            .simple_query("INSERT INTO k VALUES (1)")
            .await
            .unwrap();
        victim
            .simple_query("INSERT INTO k VALUES (2)")
            .await
            .unwrap();

        // 2. SIGKILL of the server process: PostgreSQL restarts every
        // backend. Clients get an error each, then go on.
        let (q, pid) = sleep_on_primary(victim, &direct, " (2)").await;
        let killed = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let (victim, r) = q.await.unwrap();
        assert!(r.is_err(), "the killed query succeeded");
        for c in [&victim, &bystander] {
            let errors = AtomicUsize::new(0);
            let back = eventually(Duration::from_secs(15), || async {
                let ok = c.simple_query("INSERT INTO k VALUES (3)").await.is_ok();
                errors.fetch_add(usize::from(!ok), Ordering::Relaxed);
                ok
            })
            .await;
            assert!(back, "writes never worked again after the crash restart");
            let errors = errors.into_inner();
            println!("after the crash restart: {errors} failed attempts, then writes work");
        }
        drop((victim, bystander));

        // 3. No leak: every server connection the proxy opened is pooled
        // and idle; nothing is left running.
        let direct = support::direct(cluster.primary()).await;
        let settled = eventually(Duration::from_secs(5), || async {
            let n = server_connections(&direct, "%pg_sleep%").await;
            let busy: i64 = direct
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' \
                     AND state <> 'idle' AND pid <> pg_backend_pid()",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            n <= 3 && busy == 0
        })
        .await;
        assert!(
            settled,
            "server connections left: {}",
            server_connections(&direct, "").await
        );
    })
    .await;
    proxy.stop(Duration::from_secs(1)).await;
}

/// Accepts TCP connections and never says a word; with a `target`, it
/// relays to it until silenced (then every connection, old and new, stays
/// open and silent).
async fn blackhole(target: Option<SocketAddr>) -> (SocketAddr, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (silent, rx) = watch::channel(target.is_none());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            match target {
                Some(t) if !*rx.borrow() => {
                    let mut rx = rx.clone();
                    tokio::spawn(async move {
                        let Ok(mut out) = TcpStream::connect(t).await else {
                            return;
                        };
                        let silenced = tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut out) => false,
                            r = rx.wait_for(|s| *s) => r.is_ok(),
                        };
                        if silenced {
                            // Keep both sockets open, relay nothing.
                            std::future::pending::<()>().await;
                        }
                    });
                }
                _ => held.push(inbound),
            }
        }
    });
    (addr, silent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_that_never_answers() {
    let cluster = support::cluster();
    bounded("silent backend", async {
        // 1. A silent extra backend: marked down, never used, never slows anyone.
        let (silent, _keep) = blackhole(None).await;
        let mut backends = addrs(cluster);
        backends.push(silent.to_string());
        let t0 = Instant::now();
        let proxy = pgsplit::start(config(&backends, "failures = 1\n"))
            .await
            .unwrap();
        println!("started with a silent backend in {:?}", t0.elapsed());
        let port = proxy.addr.port();
        let down = eventually(Duration::from_secs(5), || async {
            !proxy.topology.borrow().backends[2].up
        })
        .await;
        assert!(down, "the silent backend was not marked down");
        for i in 0..10 {
            let t = Instant::now();
            let c = client(port).await;
            c.simple_query("SELECT 1").await.unwrap();
            c.simple_query("/* pgsplit:primary */ SELECT 1")
                .await
                .unwrap();
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "client {i}: {:?}",
                t.elapsed()
            );
        }
        proxy.stop(Duration::from_secs(1)).await;

        // 2. The primary goes silent (a relay that stops relaying new
        // connections): a client needing a new server connection gets an
        // error within connect_timeout, not a hang; then reads go on.
        let (via, silence) = blackhole(Some(cluster.primary().addr())).await;
        let backends = vec![via.to_string(), cluster.replicas()[0].addr().to_string()];
        let proxy = pgsplit::start(config(&backends, "")).await.unwrap();
        let port = proxy.addr.port();
        assert_eq!(proxy.topology.borrow().primary, Some(0));
        silence.send_replace(true);
        let t = Instant::now();
        let e = match try_client(port).await {
            Ok(c) => c.simple_query("/* pgsplit:primary */ SELECT 1").await.err(),
            Err(e) => Some(e),
        };
        let took = t.elapsed();
        println!("silent primary → client error after {took:?}: {e:?}");
        assert!(e.is_some(), "a silent primary served a query");
        assert!(took < Duration::from_secs(3), "client waited {took:?}");
        let down = eventually(Duration::from_secs(10), || async {
            proxy.topology.borrow().primary.is_none()
        })
        .await;
        assert!(down, "the silent primary was never marked down");
        let t = Instant::now();
        let c = client(port).await;
        c.simple_query("SELECT 1").await.unwrap();
        let e = c
            .simple_query("CREATE TABLE nope (id int)")
            .await
            .unwrap_err();
        assert_eq!(support::sqlstate(&e), "08006", "{e}");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        proxy.stop(Duration::from_secs(1)).await;
    })
    .await;
}

/// A replica that goes silent with a read in flight (a partition, a paused
/// host): TCP alone would keep that read waiting for many minutes. When the
/// health checker takes the replica out, the read is abandoned with 08006
/// and the client's retry is served elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_in_flight_on_a_replica_that_goes_silent() {
    let cluster = support::cluster();
    bounded("silent replica", async {
        let (via, silence) = blackhole(Some(cluster.replicas()[0].addr())).await;
        let backends = vec![cluster.primary().addr().to_string(), via.to_string()];
        let proxy = pgsplit::start(config(&backends, "failures = 1\n"))
            .await
            .unwrap();
        let readable = eventually(Duration::from_secs(5), || async {
            proxy.topology.borrow().readable(1)
        })
        .await;
        assert!(readable, "the replica never became readable");
        let c = client(proxy.addr.port()).await;
        const WHERE: &str = "SELECT pg_catalog.pg_is_in_recovery()";
        let first: bool = c.query_one(WHERE, &[]).await.unwrap().get(0);
        assert!(first, "the first read did not go to the replica");
        silence.send_replace(true);
        let t = Instant::now();
        let e = tokio::time::timeout(Duration::from_secs(15), c.simple_query("SELECT 2"))
            .await
            .expect("the read in flight on the silent replica was never abandoned")
            .expect_err("a silent replica answered");
        let took = t.elapsed();
        println!("silent replica → read in flight abandoned after {took:?}: {e}");
        assert_eq!(support::sqlstate(&e), "08006", "{e}");
        assert!(!proxy.topology.borrow().readable(1));
        let retry: bool = c.query_one(WHERE, &[]).await.unwrap().get(0);
        assert!(!retry, "the retry did not go to the primary");
        proxy.stop(Duration::from_secs(1)).await;
    })
    .await;
}

/// Relays to `target`. A connection on which the proxy sends `trigger`
/// goes silent from then on, both sockets kept open: that connection
/// alone is partitioned away. Others, old and new, relay on. The flag
/// tells whether a cut happened.
async fn cut_on(target: SocketAddr, trigger: &'static [u8]) -> (SocketAddr, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cut = Arc::new(AtomicBool::new(false));
    let flag = cut.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let cut = cut.clone();
            tokio::spawn(async move {
                let Ok(mut out) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut up, mut down) = (vec![0; 16 * 1024], vec![0; 16 * 1024]);
                loop {
                    tokio::select! {
                        r = inbound.read(&mut up) => {
                            let Ok(n @ 1..) = r else { return };
                            if up[..n].windows(trigger.len()).any(|w| w == trigger) {
                                cut.store(true, Ordering::SeqCst);
                                std::future::pending::<()>().await;
                            }
                            if out.write_all(&up[..n]).await.is_err() {
                                return;
                            }
                        }
                        r = out.read(&mut down) => {
                            let Ok(n @ 1..) = r else { return };
                            if inbound.write_all(&down[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, flag)
}

/// A client leaves inside a transaction, and the ROLLBACK that cleans its
/// server connection is never answered (that connection alone is cut off;
/// TCP would take many minutes to give up). After `reset_timeout` the
/// connection is closed and its pool slot serves the next client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_never_answered_frees_its_pool_slot() {
    let cluster = support::cluster();
    bounded("reset never answered", async {
        let (via, cut) = cut_on(cluster.primary().addr(), b"ROLLBACK").await;
        let backends = vec![via.to_string(), cluster.replicas()[0].addr().to_string()];
        let mut config = config(&backends, "");
        config.pool.max_per_backend = 1;
        config.pool.checkout_timeout = Duration::from_secs(5);
        config.pool.reset_timeout = Duration::from_secs(1);
        let proxy = pgsplit::start(config).await.unwrap();
        let port = proxy.addr.port();
        let leaving = client(port).await;
        leaving.simple_query("BEGIN").await.unwrap();
        leaving
            .simple_query("/* pgsplit:primary */ SELECT 1")
            .await
            .unwrap();
        drop(leaving);
        let sent = eventually(Duration::from_secs(5), || async {
            cut.load(Ordering::SeqCst)
        })
        .await;
        assert!(sent, "the proxy never sent the ROLLBACK");
        let next = client(port).await;
        let t = Instant::now();
        let r = next.simple_query("/* pgsplit:primary */ SELECT 1").await;
        println!("next client on the primary after {:?}: {r:?}", t.elapsed());
        if let Err(e) = &r {
            panic!("the pool slot stayed with the unanswered reset: {e}");
        }
        proxy.stop(Duration::from_secs(1)).await;
    })
    .await;
}

fn pgbench(args: &[&str]) -> (bool, String) {
    let out = Command::new("pgbench")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run pgbench: {e} (install postgresql-client)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_disappears_during_select_only_load() {
    let _serial = SERIAL.lock().await;
    let cluster = own::cluster(1, &[]);
    let replica = cluster.replicas()[0].clone();
    let proxy = pgsplit::start(config(&addrs(&cluster), "")).await.unwrap();
    let port = proxy.addr.port();
    bounded("replica disappears", async {
        let url = format!(
            "postgres://app:{PASSWORD}@127.0.0.1:{}/app",
            cluster.primary().port
        );
        let (ok, out) = blocking(|| pgbench(&["-i", "-q", "-s", "1", &url]));
        assert!(ok, "pgbench -i: {out}");
        let caught_up = eventually(Duration::from_secs(10), || async {
            replica
                .psql_db("app", "SELECT count(*) FROM pgbench_accounts")
                .is_ok_and(|n| n == "100000")
        })
        .await;
        assert!(caught_up, "replica did not catch up");

        // Readers with their own error counts, next to a select-only pgbench.
        let stop = Arc::new(AtomicBool::new(false));
        let killed = Arc::new(AtomicBool::new(false));
        let mut readers = Vec::new();
        for r in 0..4 {
            let (stop, killed) = (stop.clone(), killed.clone());
            let c = client(port).await;
            readers.push(tokio::spawn(async move {
                let (mut errors, mut ok_after) = (0usize, 0usize);
                let mut i = r;
                while !stop.load(Ordering::Relaxed) {
                    i += 7;
                    let q = format!(
                        "SELECT abalance FROM pgbench_accounts WHERE aid = {}",
                        i % 100_000 + 1
                    );
                    match tokio::time::timeout(Duration::from_secs(5), c.simple_query(&q)).await {
                        Ok(Ok(_)) if killed.load(Ordering::Relaxed) => ok_after += 1,
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => {
                            errors += 1;
                            println!("reader {r}: {e}");
                        }
                        Err(_) => panic!("reader {r}: a read hung for 5 s"),
                    }
                }
                (errors, ok_after, c)
            }));
        }
        let proxy_url = format!("postgres://app:{PASSWORD}@127.0.0.1:{port}/app");
        let bench_url = proxy_url.clone();
        let bench = std::thread::spawn(move || {
            pgbench(&["-S", "-n", "-T", "6", "-c", "4", "-j", "2", &bench_url])
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        blocking(|| replica.stop(StopMode::Immediate)).unwrap();
        killed.store(true, Ordering::Relaxed);
        let t0 = Instant::now();
        let (_, out) = blocking(|| bench.join().unwrap());
        stop.store(true, Ordering::Relaxed);
        // One line per client that gave up ("client N aborted in command …");
        // pgbench adds "Run was aborted …" when all of a thread's clients did.
        let aborted = out
            .lines()
            .filter(|l| l.contains("client") && l.contains("aborted in command"))
            .count();
        let processed = out
            .lines()
            .find(|l| l.starts_with("number of transactions actually processed"))
            .unwrap_or("no count")
            .to_owned();
        println!("pgbench -S across the replica's death: {processed}; {aborted} clients aborted");
        for (r, h) in readers.into_iter().enumerate() {
            let (errors, ok_after, c) = h.await.unwrap();
            println!("reader {r}: {errors} errors, {ok_after} reads after the replica died");
            assert!(errors <= 1, "reader {r} saw {errors} errors");
            // Reads have moved: the same session reads on without error.
            for i in 0..20 {
                let q = format!(
                    "SELECT abalance FROM pgbench_accounts WHERE aid = {}",
                    i + 1
                );
                let read = tokio::time::timeout(Duration::from_secs(5), c.simple_query(&q)).await;
                assert!(
                    matches!(read, Ok(Ok(_))),
                    "reader {r}: read {i} after the replica died failed: {read:?}"
                );
            }
        }
        assert!(aborted <= 4, "{aborted} pgbench clients aborted:\n{out}");
        // Reads have moved: a new select-only run has no failure at all.
        let (ok, out) =
            blocking(|| pgbench(&["-S", "-n", "-T", "2", "-c", "4", "-j", "2", &proxy_url]));
        assert!(
            ok && out.contains("number of failed transactions: 0"),
            "{out}"
        );
        println!("reads moved to the primary within {:?}", t0.elapsed());
    })
    .await;
    proxy.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_during_a_write_load_loses_no_acknowledged_write() {
    let _serial = SERIAL.lock().await;
    write_load::run(pgsplit::config::PoolMode::Session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_during_a_write_load_in_transaction_pooling() {
    let _serial = SERIAL.lock().await;
    write_load::run(pgsplit::config::PoolMode::Transaction).await;
}

/// Shared by the write load: how many of something.
#[derive(Default)]
pub struct Counter(AtomicUsize);

impl Counter {
    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}
