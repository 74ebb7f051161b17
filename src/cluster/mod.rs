//! A real PostgreSQL primary with streaming replicas, built from the machine's
//! PostgreSQL binaries in a private temp directory. Used by the test harness and by
//! `pgsplit demo`. Blocking (std::process); everything is torn down on drop, and a
//! watchdog shell cleans up if this process is killed without running `Drop`.

mod host;
mod node;
mod primary;
mod replica;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

pub use host::find_pg_bin;
use host::{create_root, free_port, passwd_lookup, running_as_root, spawn_watchdog};
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

fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests;
