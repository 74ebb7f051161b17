//! One PostgreSQL server (primary or standby) of a [`super::Cluster`], plus the
//! helpers that run the PostgreSQL programs (as the `postgres` OS user when we are root).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ClusterError;

/// How a node is shut down (`pg_ctl stop -m ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Roll back transactions, disconnect clients, checkpoint, exit.
    Fast,
    /// SIGQUIT: exit without a checkpoint, like a crash (recovery on the next start).
    Immediate,
}

/// State shared by every node of a cluster.
#[derive(Debug)]
pub(super) struct Ctx {
    /// Directory holding `initdb`, `pg_ctl`, `pg_basebackup`, `psql`, `postgres`.
    pub(super) bin: PathBuf,
    /// Temp root: data dirs, logs and unix sockets live here.
    pub(super) root: PathBuf,
    /// `(uid, gid)` to run PostgreSQL programs as (set when we are root).
    pub(super) run_as: Option<(u32, u32)>,
}

impl Ctx {
    /// A command for one of the PostgreSQL programs with a clean `PG*`-free environment.
    pub(super) fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("HOME", &self.root)
            .env("LC_ALL", "C")
            .current_dir(&self.root)
            .stdin(Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            // std drops supplementary groups (setgroups(0)) itself when we are root.
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    /// Runs `cmd` to completion; trimmed stdout on success, otherwise an error with
    /// stderr and (if given) the tail of `log`.
    pub(super) fn run(&self, mut cmd: Command, log: Option<&Path>) -> Result<String, ClusterError> {
        let command = describe(&cmd);
        let out = cmd
            .output()
            .map_err(|e| ClusterError::io(format!("running `{command}`"), e))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        }
        let mut detail = format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        if let Some(log) = log {
            detail.push_str(&format!(
                "\n--- last lines of {} ---\n{}",
                log.display(),
                log_tail(log, 30)
            ));
        }
        Err(ClusterError::Command { command, detail })
    }

    /// Writes (or with `append`, appends to) a file and hands it to the run-as user.
    pub(super) fn write_file(
        &self,
        path: &Path,
        contents: &str,
        append: bool,
    ) -> Result<(), ClusterError> {
        use std::io::Write;
        let context = || format!("writing {}", path.display());
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .map_err(|e| ClusterError::io(context(), e))?;
        file.write_all(contents.as_bytes())
            .map_err(|e| ClusterError::io(context(), e))?;
        self.chown(path)
    }

    pub(super) fn chown(&self, path: &Path) -> Result<(), ClusterError> {
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|e| ClusterError::io(format!("chown {}", path.display()), e))?;
        }
        Ok(())
    }
}

/// One PostgreSQL server. Cheap to clone; all clones refer to the same server.
#[derive(Debug, Clone)]
pub struct Node {
    /// `primary`, `replica1`, `replica2`, ... (also the replica's slot and `application_name`).
    pub name: String,
    /// TCP port on 127.0.0.1 (and the unix socket `.s.PGSQL.<port>` in the cluster root).
    pub port: u16,
    pub data_dir: PathBuf,
    pub(super) ctx: Arc<Ctx>,
}

impl Node {
    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port))
    }

    /// Server log (`pg_ctl -l`).
    pub fn log_path(&self) -> PathBuf {
        self.ctx.root.join(format!("{}.log", self.name))
    }

    /// Directory holding this node's unix socket (the cluster root).
    pub fn socket_dir(&self) -> &Path {
        &self.ctx.root
    }

    /// `pg_ctl start -w` logging to [`Node::log_path`], in its own process group.
    pub fn start(&self) -> Result<(), ClusterError> {
        let log = self.log_path();
        let mut cmd = self.pg_ctl("start");
        cmd.arg("-l").arg(&log).process_group(0);
        self.ctx.run(cmd, Some(&log)).map(drop)
    }

    /// `pg_ctl stop -w -m fast|immediate`.
    pub fn stop(&self, mode: StopMode) -> Result<(), ClusterError> {
        let mut cmd = self.pg_ctl("stop");
        cmd.arg("-m").arg(match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        });
        self.ctx.run(cmd, Some(&self.log_path())).map(drop)
    }

    /// `pg_ctl promote -w`: the standby leaves recovery and accepts writes.
    pub fn promote(&self) -> Result<(), ClusterError> {
        self.ctx
            .run(self.pg_ctl("promote"), Some(&self.log_path()))
            .map(drop)
    }

    fn pg_ctl(&self, action: &str) -> Command {
        let mut cmd = self.ctx.command("pg_ctl");
        cmd.arg(action)
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-w", "-t", "30"]);
        cmd
    }

    /// `psql -X -A -t -c sql` as superuser `postgres` on database `postgres` over the
    /// unix socket; returns trimmed stdout, errors include stderr.
    pub fn psql(&self, sql: &str) -> Result<String, ClusterError> {
        self.psql_db("postgres", sql)
    }

    /// Like [`Node::psql`] on another database.
    pub fn psql_db(&self, database: &str, sql: &str) -> Result<String, ClusterError> {
        self.psql_many(database, &[sql])
    }

    /// Each statement is a separate `-c` (own transaction); stops at the first error.
    pub(super) fn psql_many(
        &self,
        database: &str,
        statements: &[&str],
    ) -> Result<String, ClusterError> {
        let mut cmd = self.ctx.command("psql");
        cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.ctx.root)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ]);
        for sql in statements {
            cmd.arg("-c").arg(sql);
        }
        self.ctx.run(cmd, None)
    }

    /// `SELECT pg_is_in_recovery()`.
    pub fn is_in_recovery(&self) -> Result<bool, ClusterError> {
        Ok(self.psql("SELECT pg_is_in_recovery()")? == "t")
    }

    /// Postmaster pid from `postmaster.pid`, if that process is alive.
    pub fn pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        let pid = text.lines().next()?.trim().parse().ok()?;
        process_alive(pid).then_some(pid)
    }
}

/// True if `pid` exists and is not a zombie.
pub(super) fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_none_or(|(_, rest)| !rest.starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Polls until `pid` is gone; false on timeout.
pub(super) fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while process_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The last `lines` lines of a log file (or why it could not be read).
pub(super) fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read log: {e})"),
    }
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
