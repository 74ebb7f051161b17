//! The things pgbench is pointed at: the primary directly, pgsplit (the
//! release binary), PgBouncer (session pooling, to the primary) and
//! pgpool-II (streaming-replication mode, reads balanced to the replica),
//! each with a generated configuration, SCRAM-SHA-256 for the clients, on a
//! free port.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pgsplit::cluster::Cluster;

use crate::procs::{self, free_port, which, Daemon};

/// What every target needs to know about the cluster.
pub struct Env<'a> {
    pub cluster: &'a Cluster,
    pub psql: PathBuf,
    /// Where configs and logs go (inside the cluster's temp dir: removed with it).
    pub dir: PathBuf,
    pub run_as: Option<(u32, u32)>,
}

impl Env<'_> {
    fn user(&self) -> &str {
        &self.cluster.options().user
    }
    fn password(&self) -> &str {
        &self.cluster.options().password
    }
    fn database(&self) -> &str {
        &self.cluster.options().database
    }

    /// `psql -c sql` as the application user through `port` (SCRAM over TCP).
    pub fn psql_via(&self, port: u16, sql: &str) -> Result<String, String> {
        let conninfo = format!(
            "host=127.0.0.1 port={port} user={} dbname={} connect_timeout=5",
            self.user(),
            self.database()
        );
        let out = Command::new(&self.psql)
            .args(["-X", "-A", "-t", "-q", "-c", sql, &conninfo])
            .env("PGPASSWORD", self.password())
            .env("PGSSLMODE", "disable")
            .env("PGGSSENCMODE", "disable")
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        match out.status.success() {
            true => Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned()),
            false => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        }
    }

    /// Polls `sql` through `port` until it answers `want`.
    fn wait_answer(&self, d: &mut Daemon, port: u16, sql: &str, want: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            d.check_alive()?;
            let got = self.psql_via(port, sql);
            if got.as_deref() == Ok(want) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} on port {port}: `{sql}` gave {got:?}, not {want:?}; log:\n{}",
                    d.name,
                    procs::tail(&d.log, 20)
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn addrs(&self) -> (SocketAddr, SocketAddr) {
        (
            self.cluster.primary().addr(),
            self.cluster.replicas()[0].addr(),
        )
    }
}

/// The pgsplit binary: `PGSPLIT_E2E_BIN`, else the one cargo built next to
/// this bench (`cargo bench` builds the package's binaries with it).
pub fn pgsplit_bin() -> PathBuf {
    match std::env::var_os("PGSPLIT_E2E_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_pgsplit")),
    }
}

/// `PGSPLIT_E2E_POOL_MODE=transaction`: both poolers pool per transaction,
/// 10 server connections per pool (issue 4's comparison).
pub fn transaction_mode() -> bool {
    std::env::var("PGSPLIT_E2E_POOL_MODE").is_ok_and(|m| m == "transaction")
}

pub fn start_pgsplit(env: &Env) -> Result<(Daemon, u16), String> {
    let (port, admin) = (free_port()?, free_port()?);
    let (p, r) = env.addrs();
    let dir = env.dir.join("pgsplit");
    let pool = if transaction_mode() {
        "[pool]\nmode = \"transaction\"\nmax_per_backend = 10\ncheckout_timeout = \"30s\"\n\n"
    } else {
        ""
    };
    let config = format!(
        "[listen]\naddr = \"127.0.0.1:{port}\"\n\n[admin]\naddr = \"127.0.0.1:{admin}\"\n\n\
         [[backends]]\naddr = \"{p}\"\n[[backends]]\naddr = \"{r}\"\n\n\
         [[users]]\nname = \"{}\"\npassword = \"{}\"\nauth = \"scram-sha-256\"\n\n\
         {pool}[log]\nlevel = \"warn\"\n",
        env.user(),
        env.password()
    );
    procs::write_dir(&dir, None, &[("proxy.toml", config)])?;
    let bin = pgsplit_bin();
    if !bin.is_file() {
        return Err(format!(
            "{} not found: run `cargo build --release` or set PGSPLIT_E2E_BIN",
            bin.display()
        ));
    }
    let mut cmd = procs::daemon_command(&bin);
    cmd.arg("--config").arg(dir.join("proxy.toml"));
    let mut d = Daemon::spawn("pgsplit", cmd, &dir.join("pgsplit.log"), "TERM")?;
    // Ready once reads reach the replica (the topology task has probed).
    env.wait_answer(&mut d, port, "SELECT pg_is_in_recovery()", "t")?;
    Ok((d, port))
}

/// Installs PgBouncer and pgpool-II with apt-get when missing (root only).
pub fn install_poolers(want_bouncer: bool, want_pgpool: bool) {
    let mut missing = Vec::new();
    if want_bouncer && which("pgbouncer").is_none() {
        missing.push("pgbouncer");
    }
    if want_pgpool && which("pgpool").is_none() {
        missing.push("pgpool2");
    }
    if missing.is_empty() || !is_root() {
        return;
    }
    eprintln!("e2e: apt-get install -y {}", missing.join(" "));
    let quiet = |c: &mut Command| {
        c.env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::null())
            .status()
    };
    let installed = quiet(
        Command::new("apt-get")
            .args(["install", "-y"])
            .args(&missing),
    );
    if !installed.is_ok_and(|s| s.success()) {
        let _ = quiet(Command::new("apt-get").arg("update"));
        let _ = quiet(
            Command::new("apt-get")
                .args(["install", "-y"])
                .args(&missing),
        );
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn as_user(cmd: &mut Command, run_as: Option<(u32, u32)>, home: &Path) {
    cmd.env("HOME", home).current_dir(home);
    if let Some((uid, gid)) = run_as {
        cmd.uid(uid).gid(gid);
    }
}

/// PgBouncer in session mode in front of the primary; clients use SCRAM
/// against the verifier copied from `pg_authid` (so no PBKDF2 per client).
pub fn start_pgbouncer(env: &Env) -> Result<(Daemon, u16), String> {
    let bin = which("pgbouncer").ok_or("pgbouncer is not installed")?;
    let port = free_port()?;
    let (p, _) = env.addrs();
    let verifier = env
        .cluster
        .primary()
        .psql(&format!(
            "SELECT rolpassword FROM pg_authid WHERE rolname = '{}'",
            env.user()
        ))
        .map_err(|e| format!("reading the SCRAM verifier: {e}"))?;
    let dir = env.dir.join("pgbouncer");
    let (mode, size) = if transaction_mode() {
        ("transaction", 10)
    } else {
        ("session", 20)
    };
    let ini = format!(
        "[databases]\n{db} = host=127.0.0.1 port={pp} dbname={db}\n\n[pgbouncer]\n\
         listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
         auth_type = scram-sha-256\nauth_file = {dir}/userlist.txt\npool_mode = {mode}\n\
         max_client_conn = 1000\ndefault_pool_size = {size}\n\
         ignore_startup_parameters = extra_float_digits\n",
        db = env.database(),
        pp = p.port(),
        dir = dir.display()
    );
    let userlist = format!("\"{}\" \"{verifier}\"\n", env.user());
    procs::write_dir(
        &dir,
        env.run_as,
        &[("pgbouncer.ini", ini), ("userlist.txt", userlist)],
    )?;
    let mut cmd = procs::daemon_command(bin);
    cmd.arg(dir.join("pgbouncer.ini"));
    as_user(&mut cmd, env.run_as, &dir);
    let mut d = Daemon::spawn("pgbouncer", cmd, &dir.join("pgbouncer.log"), "TERM")?;
    env.wait_answer(&mut d, port, "SELECT 1", "1")?;
    Ok((d, port))
}

/// pgpool-II in streaming-replication mode, load balancing with the whole
/// read weight on the replica (as pgsplit sends reads only to replicas).
pub fn start_pgpool(env: &Env) -> Result<(Daemon, u16), String> {
    let bin = which("pgpool").ok_or("pgpool is not installed")?;
    let (port, pcp) = (free_port()?, free_port()?);
    let (p, r) = env.addrs();
    let dir = env.dir.join("pgpool");
    let d = dir.display();
    let conf = format!(
        "backend_clustering_mode = 'streaming_replication'\n\
         listen_addresses = '127.0.0.1'\nport = {port}\nsocket_dir = '{d}'\n\
         pcp_listen_addresses = ''\npcp_port = {pcp}\npcp_socket_dir = '{d}'\n\
         wd_ipc_socket_dir = '{d}'\nuse_watchdog = off\n\
         backend_hostname0 = '127.0.0.1'\nbackend_port0 = {p0}\nbackend_weight0 = 0\n\
         backend_flag0 = 'DISALLOW_TO_FAILOVER'\n\
         backend_hostname1 = '127.0.0.1'\nbackend_port1 = {p1}\nbackend_weight1 = 1\n\
         backend_flag1 = 'DISALLOW_TO_FAILOVER'\n\
         enable_pool_hba = on\npool_passwd = 'pool_passwd'\n\
         num_init_children = 32\nmax_pool = 1\nload_balance_mode = on\n\
         sr_check_period = 0\nsr_check_user = '{user}'\nsr_check_password = '{pw}'\n\
         sr_check_database = '{db}'\nhealth_check_period = 0\nfailover_on_backend_error = off\n\
         pid_file_name = '{d}/pgpool.pid'\nlogdir = '{d}'\nlog_destination = 'stderr'\n\
         memqcache_oiddir = '{d}/oiddir'\n",
        p0 = p.port(),
        p1 = r.port(),
        user = env.user(),
        pw = env.password(),
        db = env.database(),
    );
    let hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n".to_owned();
    let passwd = format!("{}:TEXT{}\n", env.user(), env.password());
    procs::write_dir(
        &dir,
        env.run_as,
        &[
            ("pgpool.conf", conf),
            ("pool_hba.conf", hba),
            ("pool_passwd", passwd),
            ("pcp.conf", String::new()),
        ],
    )?;
    let mut cmd = procs::daemon_command(bin);
    cmd.args(["-n", "-D", "-f"])
        .arg(dir.join("pgpool.conf"))
        .arg("-a")
        .arg(dir.join("pool_hba.conf"))
        .arg("-F")
        .arg(dir.join("pcp.conf"));
    as_user(&mut cmd, env.run_as, &dir);
    let mut d = Daemon::spawn("pgpool", cmd, &dir.join("pgpool.log"), "INT")?;
    // pgpool-II sends volatile functions such as pg_is_in_recovery() to the
    // primary; where reads go shows in the pg_stat_statements counts.
    env.wait_answer(&mut d, port, "SELECT 1", "1")?;
    Ok((d, port))
}
