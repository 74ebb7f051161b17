//! A real PostgreSQL primary with streaming replicas, built from the machine's
//! PostgreSQL binaries in a private temp directory. Used by the test harness and by
//! `pgsplit demo`. Blocking (std::process); everything is torn down on drop, and a
//! watchdog shell cleans up if this process is killed without running `Drop`.

mod node;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use node::{wait_gone, Ctx};
pub use node::{Node, StopMode};

/// Startup / teardown failures; messages name the command and include stderr or log tails.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries not found: {detail}. Install them with \
         `apt-get install -y postgresql` (Debian/Ubuntu), or set PGSPLIT_PG_BIN to the \
         directory containing initdb, pg_ctl, pg_basebackup, postgres and psql"
    )]
    MissingBinaries { detail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("timed out after {timeout:?} waiting for {what}\n--- last lines of {log_path} ---\n{log_tail}")]
    Timeout {
        what: String,
        timeout: Duration,
        log_path: PathBuf,
        log_tail: String,
    },
    #[error("no running primary (node not in recovery) in the cluster")]
    NoPrimary,
}

impl ClusterError {
    fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ClusterError::Io {
            context: context.into(),
            source,
        }
    }
}

/// What [`Cluster::start`] builds.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Number of streaming replicas (default 1).
    pub replicas: usize,
    /// Application login role (LOGIN CREATEDB, pg_monitor, pg_read_all_settings, may call pg_promote).
    pub user: String,
    /// Its password (default: random alphanumeric).
    pub password: String,
    /// Database owned by `user` (default "app").
    pub database: String,
    /// Extra `postgresql.conf` lines for every node (appended last, so they win).
    pub extra_conf: Vec<String>,
    /// pg_hba method for TCP connections (default "scram-sha-256").
    pub auth_method: String,
    /// Serve TLS (`ssl = on`) with this certificate and key (default: off).
    pub ssl: Option<SslFiles>,
}

/// PEM files for a cluster's `ssl = on`. They are copied into the cluster
/// directory, owned by the server's OS user, the key with mode 0600 (the
/// server refuses a key others can read).
#[derive(Debug, Clone)]
pub struct SslFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            replicas: 1,
            user: "app".into(),
            password: random_token(16),
            database: "app".into(),
            extra_conf: Vec::new(),
            auth_method: "scram-sha-256".into(),
            ssl: None,
        }
    }
}

/// A running primary (node 0) and its replicas. Dropping it stops every server and
/// removes the temp directory.
#[derive(Debug)]
pub struct Cluster {
    opts: ClusterOptions,
    ctx: Arc<Ctx>,
    nodes: Vec<Node>,
    superuser_password: String,
    replicator_password: String,
    replicas_created: usize,
    watchdog: Option<Child>,
}

const WAIT: Duration = Duration::from_secs(30);

impl Cluster {
    /// initdb + start the primary, create roles/database, then basebackup and start
    /// `opts.replicas` replicas and wait until each is streaming.
    pub fn start(opts: ClusterOptions) -> Result<Cluster, ClusterError> {
        let began = Instant::now();
        let bin = find_pg_bin()?;
        let run_as = if running_as_root() {
            let user = passwd_lookup("postgres").or_else(|| passwd_lookup("nobody"));
            Some(user.ok_or_else(|| ClusterError::Io {
                context:
                    "running as root but neither `postgres` nor `nobody` is in /etc/passwd".into(),
                source: std::io::ErrorKind::NotFound.into(),
            })?)
        } else {
            None
        };
        let root = create_root(run_as)?;
        let watchdog = spawn_watchdog(&root)
            .map_err(|e| tracing::warn!("cluster watchdog not started: {e}"))
            .ok();
        let mut cluster = Cluster {
            opts,
            ctx: Arc::new(Ctx { bin, root, run_as }),
            nodes: Vec::new(),
            superuser_password: random_token(16),
            replicator_password: random_token(16),
            replicas_created: 0,
            watchdog,
        };
        // From here on, any error drops `cluster`, which tears down what was started.
        cluster.init_primary()?;
        for _ in 0..cluster.opts.replicas {
            cluster.add_replica()?;
        }
        tracing::info!(
            root = %cluster.ctx.root.display(),
            primary = %cluster.primary().addr(),
            replicas = cluster.opts.replicas,
            elapsed_ms = began.elapsed().as_millis() as u64,
            "postgres cluster started"
        );
        Ok(cluster)
    }

    /// Node 0, the primary as created (it may since have been stopped or demoted).
    pub fn primary(&self) -> &Node {
        &self.nodes[0]
    }

    /// Every node but node 0, in creation order.
    pub fn replicas(&self) -> &[Node] {
        &self.nodes[1..]
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn options(&self) -> &ClusterOptions {
        &self.opts
    }

    /// Temp directory holding data dirs, `<name>.log` files and unix sockets.
    pub fn root(&self) -> &Path {
        &self.ctx.root
    }

    /// Password of the `postgres` superuser for TCP logins (unix socket is trust).
    pub fn superuser_password(&self) -> &str {
        &self.superuser_password
    }

    /// libpq conninfo for the application user/database on `node`.
    pub fn conninfo(&self, node: &Node) -> String {
        format!(
            "host=127.0.0.1 port={} user={} password={} dbname={}",
            node.port, self.opts.user, self.opts.password, self.opts.database
        )
    }

    /// The running node that is not in recovery (the newest such node if several are).
    pub fn current_primary(&self) -> Result<&Node, ClusterError> {
        self.nodes
            .iter()
            .rev()
            .find(|n| n.pid().is_some() && matches!(n.is_in_recovery(), Ok(false)))
            .ok_or(ClusterError::NoPrimary)
    }

    /// Base-backs-up a new replica (with its own slot) from the current primary,
    /// starts it and waits until it streams.
    pub fn add_replica(&mut self) -> Result<&Node, ClusterError> {
        let upstream_port = self.current_primary()?.port;
        self.replicas_created += 1;
        let name = format!("replica{}", self.replicas_created);
        let data_dir = self.ctx.root.join(&name);
        let mut cmd = self.ctx.command("pg_basebackup");
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &upstream_port.to_string(),
            "-U",
            "replicator",
        ])
        .arg("-D")
        .arg(&data_dir)
        .args([
            "-R",
            "-X",
            "stream",
            "-C",
            "-S",
            &name,
            "-c",
            "fast",
            "--no-sync",
        ])
        .env("PGPASSWORD", &self.replicator_password);
        self.ctx.run(cmd, None)?;
        let auto = format!(
            "primary_conninfo = 'host=127.0.0.1 port={upstream_port} user=replicator password={} application_name={name}'\n\
             primary_slot_name = '{name}'\n",
            self.replicator_password
        );
        self.ctx
            .write_file(&data_dir.join("postgresql.auto.conf"), &auto, true)?;
        self.launch(Node {
            name,
            port: 0,
            data_dir,
            ctx: Arc::clone(&self.ctx),
        })?;
        let node = &self.nodes[self.nodes.len() - 1];
        self.wait_streaming(node, WAIT)?;
        Ok(node)
    }

    /// Waits until `node` is in recovery and some other node's `pg_stat_replication`
    /// shows it (by application_name) as `streaming`.
    pub fn wait_streaming(&self, node: &Node, timeout: Duration) -> Result<(), ClusterError> {
        let deadline = Instant::now() + timeout;
        let query = format!(
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = '{}' AND state = 'streaming'",
            node.name.replace('\'', "''")
        );
        loop {
            let streaming = || {
                self.nodes
                    .iter()
                    .filter(|n| n.name != node.name && n.pid().is_some())
                    .any(|n| n.psql(&query).is_ok_and(|c| c == "1"))
            };
            if matches!(node.is_in_recovery(), Ok(true)) && streaming() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::Timeout {
                    what: format!("{} to stream from the primary", node.name),
                    timeout,
                    log_path: node.log_path(),
                    log_tail: node::log_tail(&node.log_path(), 30),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn init_primary(&mut self) -> Result<(), ClusterError> {
        let ctx = Arc::clone(&self.ctx);
        let pwfile = ctx.root.join("superuser.pw");
        ctx.write_file(&pwfile, &format!("{}\n", self.superuser_password), false)?;
        let data_dir = ctx.root.join("primary");
        let mut cmd = ctx.command("initdb");
        cmd.arg("-D")
            .arg(&data_dir)
            .arg(format!("--pwfile={}", pwfile.display()))
            .args([
                "-A",
                "scram-sha-256",
                "--auth-local=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]);
        ctx.run(cmd, None)?;
        let mut conf = format!(
            "\n# pgsplit cluster\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             include 'pgsplit_port.conf'\nwal_level = replica\nmax_wal_senders = 10\n\
             max_replication_slots = 10\nhot_standby = on\nhot_standby_feedback = on\n\
             wal_keep_size = 256MB\nfsync = off\nshared_buffers = 32MB\nmax_connections = 200\n\
             logging_collector = off\n",
            ctx.root.display()
        );
        if let Some(ssl) = &self.opts.ssl {
            conf.push_str(&self.install_ssl_files(ssl)?);
        }
        for line in &self.opts.extra_conf {
            conf.push_str(line);
            conf.push('\n');
        }
        ctx.write_file(&data_dir.join("postgresql.conf"), &conf, true)?;
        let method = &self.opts.auth_method;
        let hba = format!(
            "local all all trust\nlocal replication all trust\n\
             host all all 127.0.0.1/32 {method}\nhost replication all 127.0.0.1/32 {method}\n\
             host all all ::1/128 {method}\nhost replication all ::1/128 {method}\n"
        );
        ctx.write_file(&data_dir.join("pg_hba.conf"), &hba, false)?;
        self.launch(Node {
            name: "primary".into(),
            port: 0,
            data_dir,
            ctx: Arc::clone(&ctx),
        })?;
        let (user, db) = (
            quote_ident(&self.opts.user),
            quote_ident(&self.opts.database),
        );
        let mut sql = vec![
            format!(
                "CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD {}",
                quote_literal(&self.replicator_password)
            ),
            format!(
                "CREATE ROLE {user} WITH LOGIN CREATEDB PASSWORD {}",
                quote_literal(&self.opts.password)
            ),
            format!("GRANT pg_monitor, pg_read_all_settings TO {user}"),
            format!("GRANT EXECUTE ON FUNCTION pg_catalog.pg_promote(boolean, integer) TO {user}"),
        ];
        let grant = sql[3].clone();
        if self.opts.database != "postgres" {
            sql.push(format!("CREATE DATABASE {db} OWNER {user}"));
        }
        let sql: Vec<&str> = sql.iter().map(String::as_str).collect();
        self.primary().psql_many("postgres", &sql)?;
        // Function ACLs are per database: repeat the pg_promote grant in the app database.
        self.primary()
            .psql_many(&self.opts.database, &[&grant])
            .map(drop)
    }

    /// Copies the certificate and key where the server's OS user reads them;
    /// returns the postgresql.conf lines (absolute paths, so replicas made
    /// by pg_basebackup use the same files).
    fn install_ssl_files(&self, ssl: &SslFiles) -> Result<String, ClusterError> {
        let mut lines = String::from("ssl = on\n");
        for (from, name, key) in [
            (&ssl.cert, "server.crt", "ssl_cert_file"),
            (&ssl.key, "server.key", "ssl_key_file"),
        ] {
            let to = self.ctx.root.join(name);
            std::fs::copy(from, &to).map_err(|e| {
                ClusterError::io(format!("copying {} to {}", from.display(), to.display()), e)
            })?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| ClusterError::io(format!("chmod 0600 {}", to.display()), e))?;
            self.ctx.chown(&to)?;
            lines.push_str(&format!("{key} = '{}'\n", to.display()));
        }
        Ok(lines)
    }

    /// Registers `node` (so Drop covers it), picks a free port and starts it, retrying
    /// once with another port if the first one was taken meanwhile.
    fn launch(&mut self, node: Node) -> Result<(), ClusterError> {
        self.nodes.push(node);
        let idx = self.nodes.len() - 1;
        for attempt in 0..2 {
            let port = free_port()?;
            let conf = self.nodes[idx].data_dir.join("pgsplit_port.conf");
            self.ctx
                .write_file(&conf, &format!("port = {port}\n"), false)?;
            self.nodes[idx].port = port;
            match self.nodes[idx].start() {
                Err(e) if attempt == 0 && e.to_string().contains("could not bind") => {
                    tracing::warn!(port, "postgres port taken, retrying with another: {e}");
                }
                other => return other,
            }
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &self.nodes {
            let Some(pid) = node.pid() else { continue };
            if let Err(e) = node.stop(StopMode::Immediate) {
                tracing::warn!(node = %node.name, "pg_ctl stop failed: {e}");
            }
            if !wait_gone(pid, Duration::from_secs(5)) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                if !wait_gone(pid, Duration::from_secs(5)) {
                    tracing::error!(node = %node.name, pid, "postmaster survived SIGKILL");
                }
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.ctx.root) {
            tracing::warn!(root = %self.ctx.root.display(), "cannot remove cluster dir: {e}");
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

/// Directory with the PostgreSQL server programs: `$PGSPLIT_PG_BIN`, else
/// `pg_config --bindir`, else the newest `/usr/lib/postgresql/*/bin`.
pub fn find_pg_bin() -> Result<PathBuf, ClusterError> {
    find_pg_bin_in(
        std::env::var_os("PGSPLIT_PG_BIN").map(PathBuf::from),
        Path::new("/usr/lib/postgresql"),
    )
}

fn find_pg_bin_in(env: Option<PathBuf>, versions_dir: &Path) -> Result<PathBuf, ClusterError> {
    const PROGRAMS: [&str; 5] = ["initdb", "pg_ctl", "pg_basebackup", "postgres", "psql"];
    let complete = |dir: &Path| PROGRAMS.iter().all(|p| dir.join(p).is_file());
    if let Some(dir) = env {
        return match complete(&dir) {
            true => Ok(dir),
            false => Err(ClusterError::MissingBinaries {
                detail: format!(
                    "PGSPLIT_PG_BIN={} lacks one of {}",
                    dir.display(),
                    PROGRAMS.join(", ")
                ),
            }),
        };
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && complete(&dir) {
            return Ok(dir);
        }
    }
    let version = |p: &Path| -> Vec<u32> {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        name.split('.').map(|s| s.parse().unwrap_or(0)).collect()
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(versions_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    dirs.retain(|d| complete(d));
    dirs.sort_by_key(|d| d.parent().map(version));
    dirs.pop().ok_or_else(|| ClusterError::MissingBinaries {
        detail: format!(
            "no pg_config on PATH and no {}/*/bin/initdb",
            versions_dir.display()
        ),
    })
}

fn running_as_root() -> bool {
    match std::fs::metadata("/proc/self") {
        Ok(meta) => meta.uid() == 0,
        Err(_) => Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0"),
    }
}

/// `(uid, gid)` of `user` from /etc/passwd.
fn passwd_lookup(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        match f.as_slice() {
            [name, _, uid, gid, ..] if *name == user => {
                Some((uid.parse().ok()?, gid.parse().ok()?))
            }
            _ => None,
        }
    })
}

/// Creates `<tmp>/pgsplit-cluster-<pid>-<random>` (0700, owned by the run-as user).
/// Falls back to /tmp when TMPDIR would make the socket path too long or is not
/// reachable by the run-as user.
fn create_root(run_as: Option<(u32, u32)>) -> Result<PathBuf, ClusterError> {
    let mut base = std::env::temp_dir();
    let reachable = run_as.is_none()
        || base
            .ancestors()
            .all(|a| std::fs::metadata(a).is_ok_and(|m| m.mode() & 0o001 != 0));
    if !reachable || base.as_os_str().len() > 60 {
        base = PathBuf::from("/tmp");
    }
    let name = format!(
        "pgsplit-cluster-{}-{}",
        std::process::id(),
        random_token(6).to_lowercase()
    );
    let root = base.join(name);
    std::fs::create_dir(&root)
        .map_err(|e| ClusterError::io(format!("creating {}", root.display()), e))?;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| ClusterError::io(format!("chmod {}", root.display()), e))?;
    if let Some((uid, gid)) = run_as {
        std::os::unix::fs::chown(&root, Some(uid), Some(gid))
            .map_err(|e| ClusterError::io(format!("chown {}", root.display()), e))?;
    }
    Ok(root)
}

/// A shell that waits for this process to die (or for it to be reparented away from
/// us), then SIGQUITs (immediate shutdown) / SIGKILLs every postmaster under `root`
/// and removes it. Runs in its own process group so a terminal Ctrl-C spares it.
fn spawn_watchdog(root: &Path) -> std::io::Result<Child> {
    const SCRIPT: &str = r#"
while kill -0 "$1" 2>/dev/null; do
  if read -r _ _ _ ppid _ < /proc/$$/stat && [ "$ppid" != "$1" ]; then break; fi
  sleep 1
done
for sig in QUIT KILL; do
  for f in "$2"/*/postmaster.pid; do
    [ -f "$f" ] && kill -"$sig" "$(head -n 1 "$f")" 2>/dev/null
  done
  sleep 2
done
rm -rf "$2"
"#;
    Command::new("sh")
        .args([
            "-c",
            SCRIPT,
            "pgsplit-cluster-watchdog",
            &std::process::id().to_string(),
        ])
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
}

fn free_port() -> Result<u16, ClusterError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ClusterError::io("finding a free port on 127.0.0.1", e))
}

fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
#[path = "cluster/tests.rs"]
mod tests;
