use super::host::find_pg_bin_in;
use super::node::process_alive;
use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn wait_for(what: &str, mut f: impl FnMut() -> bool) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// psql over TCP as the *current* OS user (root here), like a client would.
fn tcp_psql(conninfo: &str, sql: &str) -> Result<String, ClusterError> {
    let bin = find_pg_bin()?;
    let out = Command::new(bin.join("psql"))
        .args(["-X", "-A", "-t", "-c", sql, conninfo])
        .env_remove("PGPASSWORD")
        .output()
        .map_err(|e| ClusterError::io("psql", e))?;
    match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned()),
        false => Err(ClusterError::Command {
            command: "psql".into(),
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        }),
    }
}

#[test]
fn primary_replica_replication_and_scram_login() -> TestResult {
    let began = Instant::now();
    let cluster = Cluster::start(ClusterOptions::default())?;
    eprintln!("Cluster::start with 1 replica took {:?}", began.elapsed());
    let (primary, replica) = (cluster.primary(), &cluster.replicas()[0]);
    assert_eq!(cluster.nodes().len(), 2);
    assert_eq!(primary.psql("SELECT pg_is_in_recovery()")?, "f");
    assert_eq!(replica.psql("SELECT pg_is_in_recovery()")?, "t");
    assert_eq!(
        primary.psql("SELECT slot_name FROM pg_replication_slots")?,
        "replica1"
    );

    primary.psql_db("app", "CREATE TABLE t (x int); INSERT INTO t VALUES (42)")?;
    wait_for("table on replica", || {
        replica
            .psql_db("app", "SELECT x FROM t")
            .is_ok_and(|x| x == "42")
    })?;

    let app = cluster.conninfo(replica);
    assert_eq!(
        tcp_psql(&app, "SELECT current_user || '@' || current_database()")?,
        "app@app"
    );
    let method = "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'app'";
    assert_eq!(primary.psql(method)?, "t");
    let wrong = format!(
        "host=127.0.0.1 port={} user=app password=nope dbname=app",
        primary.port
    );
    assert!(tcp_psql(&wrong, "SELECT 1")
        .is_err_and(|e| e.to_string().contains("password authentication failed")));
    assert_eq!(
        tcp_psql(
            &cluster.conninfo(primary),
            "SELECT has_function_privilege('pg_promote(boolean,integer)', 'execute')"
        )?,
        "t"
    );
    Ok(())
}

#[test]
fn stop_start_promote_and_add_replica() -> TestResult {
    let mut cluster = Cluster::start(ClusterOptions::default())?;
    let (primary, replica) = (cluster.primary().clone(), cluster.replicas()[0].clone());
    replica.stop(StopMode::Immediate)?;
    assert_eq!(replica.pid(), None);
    replica.start()?;
    assert!(replica.pid().is_some());
    cluster.wait_streaming(&replica, Duration::from_secs(20))?;

    primary.stop(StopMode::Fast)?;
    replica.promote()?;
    assert_eq!(replica.psql("SELECT pg_is_in_recovery()")?, "f");
    assert_eq!(cluster.current_primary()?.name, "replica1");
    let added = cluster.add_replica()?.clone();
    assert_eq!(added.name, "replica2");
    replica.psql_db("app", "CREATE TABLE after_promote (x int)")?;
    wait_for("table on new replica", || {
        added
            .psql_db("app", "SELECT count(*) FROM after_promote")
            .is_ok()
    })?;
    Ok(())
}

#[test]
fn drop_stops_everything_and_removes_dir() -> TestResult {
    let cluster = Cluster::start(ClusterOptions {
        replicas: 2,
        ..Default::default()
    })?;
    let pids: Vec<u32> = cluster.nodes().iter().filter_map(Node::pid).collect();
    let root = cluster.root().to_path_buf();
    assert_eq!(pids.len(), 3);
    assert!(root.join("primary/postmaster.pid").exists());
    drop(cluster);
    assert!(
        pids.iter().all(|&pid| !process_alive(pid)),
        "postmasters still alive: {pids:?}"
    );
    assert!(!root.exists());
    Ok(())
}

#[test]
fn missing_binaries_error_says_how_to_install() {
    let err = find_pg_bin_in(None, Path::new("/nonexistent")).map(|_| ());
    // pg_config may exist on this machine; only check the message when it doesn't.
    if let Err(e) = err {
        assert!(e.to_string().contains("apt-get install -y postgresql"));
    }
    let err = find_pg_bin_in(Some("/nonexistent".into()), Path::new("/nonexistent"));
    assert!(err.is_err_and(|e| e.to_string().contains("apt-get install -y postgresql")));
}

/// Manual check of the watchdog: `cargo test watchdog -- --ignored --nocapture`,
/// then verify the printed dir and pids disappear within a few seconds.
#[test]
#[ignore]
fn watchdog_cleans_up_after_abort() -> TestResult {
    let cluster = Cluster::start(ClusterOptions::default())?;
    let pids: Vec<u32> = cluster.nodes().iter().filter_map(Node::pid).collect();
    eprintln!("ROOT {} PIDS {pids:?}", cluster.root().display());
    std::process::abort();
}
