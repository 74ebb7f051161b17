//! The active/standby pair behind a keepalived VIP, in network namespaces
//! made by this test (addresses from 198.51.100.0/24 exist only there):
//!
//! ```text
//!   client 198.51.100.20 ─┐
//!   px1    198.51.100.11 ─┤ (pgsplit + keepalived, preferred)
//!   px2    198.51.100.12 ─┼─ br0 (own namespace)      VIP 198.51.100.100
//!   db     198.51.100.10 ─┘ (primary + streaming replica)
//! ```
//!
//! Proves: the client reaches the active proxy through the VIP; a cancel
//! request through the VIP works; when the active proxy is killed the VIP
//! moves and the standby serves the client's next connection within seconds.
//! Needs root, iproute2 and keepalived (`.ci/run` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "pair/lab.rs"]
mod lab;

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use lab::Lab;

const DB_IP: &str = "198.51.100.10";
const PX1_IP: &str = "198.51.100.11";
const PX2_IP: &str = "198.51.100.12";
const CLIENT_IP: &str = "198.51.100.20";
const VIP: &str = "198.51.100.100";
const PASSWORD: &str = "pair-secret";
const PGSPLIT: &str = env!("CARGO_BIN_EXE_pgsplit");

/// Runs inside the database namespace, started by the pair test: a primary
/// and a replica listening on the host's address, until stdin closes.
#[test]
#[ignore = "helper: the pair test runs it inside its database namespace"]
fn db_host() {
    let Ok(ip) = std::env::var("PGSPLIT_PAIR_DB_IP") else {
        return;
    };
    let opts = pgsplit::cluster::ClusterOptions {
        password: PASSWORD.into(),
        extra_conf: vec![format!("listen_addresses = '127.0.0.1,{ip}'")],
        ..Default::default()
    };
    let cluster = pgsplit::cluster::Cluster::start(opts).expect("cluster in the db namespace");
    for node in cluster.nodes() {
        let hba = node.data_dir.join("pg_hba.conf");
        let mut text = std::fs::read_to_string(&hba).expect("pg_hba.conf");
        text.push_str("host all all 198.51.100.0/24 scram-sha-256\n");
        std::fs::write(&hba, text).expect("pg_hba.conf");
        node.psql("SELECT pg_reload_conf()").expect("reload");
    }
    println!(
        "PAIRDB {} {}",
        cluster.primary().port,
        cluster.replicas()[0].port
    );
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(cluster);
}

fn preflight() {
    let root = lab::run("id", &["-u"]).map(|s| s.trim() == "0");
    assert_eq!(
        root,
        Ok(true),
        "the pair test needs root (network namespaces)"
    );
    assert!(
        lab::run("keepalived", &["--version"]).is_ok()
            || Path::new("/usr/sbin/keepalived").exists(),
        "keepalived is missing: apt-get install -y keepalived iproute2 (.ci/run does)"
    );
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn proxy_config(pport: u16, rport: u16) -> String {
    format!(
        "[listen]\naddr = \"0.0.0.0:6432\"\nshutdown_timeout = \"5s\"\n\
         [admin]\naddr = \"127.0.0.1:9930\"\n\
         [[backends]]\naddr = \"{DB_IP}:{pport}\"\n[[backends]]\naddr = \"{DB_IP}:{rport}\"\n\
         [[users]]\nname = \"app\"\npassword = \"{PASSWORD}\"\n\
         [health]\ninterval = \"200ms\"\ndatabase = \"app\"\n"
    )
}

/// The same shape as deploy/keepalived/keepalived.conf.
fn keepalived_config(host: &str, priority: u32, notify: &Path) -> String {
    format!(
        r#"global_defs {{
    router_id pgsplit-{host}
    script_user root
}}
vrrp_script pgsplit_check {{
    script "{PGSPLIT} check --admin 127.0.0.1:9930"
    interval 1
    timeout 2
    fall 2
    rise 2
}}
vrrp_instance pgsplit {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    nopreempt
    virtual_ipaddress {{
        {VIP}/24 dev eth0
    }}
    track_script {{
        pgsplit_check weight 0
    }}
    notify "{notify}"
}}
"#,
        notify = notify.display()
    )
}

fn log_file(lab: &Lab, name: &str) -> Stdio {
    Stdio::from(std::fs::File::create(lab.dir.join(name)).expect("log file"))
}

/// One query from the client host through the VIP: which proxy served it
/// (the backend sees the proxy's address as its client).
fn served_by(lab: &Lab) -> Result<String, String> {
    let psql = pgsplit::cluster::find_pg_bin().expect("psql").join("psql");
    let out = lab
        .command(
            "client",
            &psql.to_string_lossy(),
            &[
                &format!("host={VIP} port=6432 user=app dbname=app connect_timeout=1"),
                "-XAtqc",
                "SELECT host(inet_client_addr())",
            ],
        )
        .env("PGPASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn has_vip(lab: &Lab, host: &str) -> bool {
    lab::run(
        "ip",
        &["-n", &lab.ns(host), "-br", "addr", "show", "dev", "eth0"],
    )
    .is_ok_and(|s| s.contains(VIP))
}

fn start_proxy(lab: &mut Lab, host: &str, priority: u32, pport: u16, rport: u16) {
    let config = lab.write(&format!("{host}.toml"), &proxy_config(pport, rport));
    let mut cmd = lab.command(host, PGSPLIT, &["--config", &config.to_string_lossy()]);
    cmd.stdin(Stdio::null())
        .stdout(log_file(lab, &format!("{host}-pgsplit.log")))
        .stderr(log_file(lab, &format!("{host}-pgsplit.err")));
    lab.spawn(&format!("{host}-pgsplit"), cmd);
    wait_for(
        &format!("pgsplit on {host}"),
        Duration::from_secs(20),
        || lab.exec(host, PGSPLIT, &["check"]).ok(),
    );
    let log = lab.dir.join(format!("notify-{host}.log"));
    let notify = lab.write(
        &format!("notify-{host}.sh"),
        &format!("#!/bin/sh\necho \"$1 $2 $3\" >> {}\n", log.display()),
    );
    lab::run("chmod", &["755", &notify.to_string_lossy()]).expect("chmod");
    let conf = lab.write(
        &format!("keepalived-{host}.conf"),
        &keepalived_config(host, priority, &notify),
    );
    let pid = |n: &str| {
        lab.dir
            .join(format!("{host}-{n}.pid"))
            .display()
            .to_string()
    };
    let args = [
        "--dont-fork",
        "--log-console",
        "--log-detail",
        "--vrrp",
        "-f",
        &conf.display().to_string(),
        "-p",
        &pid("keepalived"),
        "-r",
        &pid("vrrp"),
        "-c",
        &pid("checkers"),
    ]
    .map(|s| s.to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = lab.command(host, "keepalived", &args);
    cmd.stdin(Stdio::null())
        .stdout(log_file(lab, &format!("{host}-keepalived.log")))
        .stderr(log_file(lab, &format!("{host}-keepalived.err")));
    lab.spawn(&format!("{host}-keepalived"), cmd);
}

#[test]
fn pair_failover_and_cancel_through_the_vip() {
    preflight();
    let mut lab = Lab::new();
    lab.bridge();
    lab.host("db", &format!("{DB_IP}/24"));
    lab.host("px1", &format!("{PX1_IP}/24"));
    lab.host("px2", &format!("{PX2_IP}/24"));
    lab.host("client", &format!("{CLIENT_IP}/24"));

    let exe = std::env::current_exe().expect("test binary");
    let mut db = lab.command(
        "db",
        &exe.to_string_lossy(),
        &["db_host", "--exact", "--ignored", "--nocapture"],
    );
    db.env("PGSPLIT_PAIR_DB_IP", DB_IP)
        .stdin(Stdio::piped())
        .stdout(log_file(&lab, "db.out"))
        .stderr(log_file(&lab, "db.err"));
    lab.spawn("db", db);
    let out = lab.dir.join("db.out");
    let (pport, rport) = wait_for("the database host", Duration::from_secs(120), || {
        let text = std::fs::read_to_string(&out).ok()?;
        let line = text.lines().find(|l| l.starts_with("PAIRDB "))?;
        let mut it = line.split(' ').skip(1).map(|p| p.parse::<u16>());
        Some((it.next()?.ok()?, it.next()?.ok()?))
    });

    // The preferred node first, so it takes the VIP.
    start_proxy(&mut lab, "px1", 150, pport, rport);
    wait_for("the VIP on px1", Duration::from_secs(20), || {
        has_vip(&lab, "px1").then_some(())
    });
    start_proxy(&mut lab, "px2", 100, pport, rport);
    let first = wait_for(
        "a client query through the VIP",
        Duration::from_secs(10),
        || served_by(&lab).ok(),
    );
    assert_eq!(first, PX1_IP, "the active proxy serves the VIP");
    assert!(!has_vip(&lab, "px2"));

    let status = lab
        .exec("px1", PGSPLIT, &["status"])
        .expect("pgsplit status");
    assert!(status.contains("primary"), "{status}");
    println!("{status}");

    // A cancel request through the VIP reaches the backend running the query.
    let psql = pgsplit::cluster::find_pg_bin().expect("psql").join("psql");
    let mut sleeper = lab.command(
        "client",
        &psql.to_string_lossy(),
        &[
            &format!("host={VIP} port=6432 user=app dbname=app"),
            "-XAtqc",
            "SELECT pg_sleep(30)",
        ],
    );
    sleeper
        .env("PGPASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(log_file(&lab, "cancel.out"))
        .stderr(log_file(&lab, "cancel.err"));
    lab.spawn("cancel-psql", sleeper);
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    lab.signal("cancel-psql", "INT");
    let status = wait_for(
        "psql to end after the cancel",
        Duration::from_secs(10),
        || lab.child("cancel-psql").try_wait().ok().flatten(),
    );
    let err = std::fs::read_to_string(lab.dir.join("cancel.err")).unwrap_or_default();
    assert!(!status.success());
    assert!(
        err.contains("canceling statement due to user request"),
        "psql said: {err}"
    );
    println!("cancel through the VIP took {:?}", sent.elapsed());

    // Kill the active proxy: keepalived's check fails, the VIP moves.
    let killed = Instant::now();
    lab.child("px1-pgsplit").kill().expect("kill px1's pgsplit");
    let by = wait_for("the standby to serve", Duration::from_secs(30), || {
        served_by(&lab).ok().filter(|s| s == PX2_IP)
    });
    let failover = killed.elapsed();
    println!(
        "VIP failover: the client's next connection was served by the standby ({by}) \
         {:.2} s after the active proxy was killed",
        failover.as_secs_f64()
    );
    assert!(has_vip(&lab, "px2"));
    assert!(
        failover < Duration::from_secs(10),
        "failover took {failover:?}"
    );
    let notes = std::fs::read_to_string(lab.dir.join("notify-px2.log")).unwrap_or_default();
    assert!(notes.contains("MASTER"), "px2 notify hook: {notes}");
}
