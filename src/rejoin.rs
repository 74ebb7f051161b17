//! `pgsplit rejoin`: turns a stale primary (stopped) into a streaming
//! replica of the new primary.
//!
//! Runs `pg_rewind` (as the data directory's owner when we are root); when
//! that fails, or with `force_basebackup`, moves the data directory aside
//! (never deletes it) and takes a fresh `pg_basebackup`. The node's own
//! top-level `*.conf` files are kept (both tools copy the source's), then
//! `standby.signal` and `primary_conninfo` are written. It starts and stops
//! nothing: the server must be stopped, and the operator starts it.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone)]
pub struct RejoinOptions {
    pub data_dir: PathBuf,
    /// The new primary, `host:port`.
    pub primary: String,
    /// Superuser (or a user with pg_rewind's grants and REPLICATION).
    pub user: String,
    pub password: Option<String>,
    /// Directory of pg_rewind / pg_basebackup (default: found like the test cluster's).
    pub pg_bin: Option<PathBuf>,
    pub force_basebackup: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Rewind,
    Basebackup,
}

#[derive(Debug)]
pub struct Rejoined {
    pub method: Method,
    /// Why pg_rewind was not used, when it was not.
    pub rewind_error: Option<String>,
    /// Where the old data directory went (basebackup only).
    pub moved_aside: Option<PathBuf>,
    /// How to start the server now.
    pub start_hint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RejoinError {
    #[error("rejoin: {0}")]
    Precondition(String),
    #[error("rejoin: {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("rejoin: `{command}` failed: {detail}")]
    Command { command: String, detail: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RejoinError {
    let what = what.into();
    move |source| RejoinError::Io { what, source }
}

/// Runs the whole rejoin; see the module documentation.
pub fn rejoin(opts: &RejoinOptions) -> Result<Rejoined, RejoinError> {
    let dir = &opts.data_dir;
    let meta = std::fs::metadata(dir).map_err(io(format!("data directory {}", dir.display())))?;
    if !dir.join("PG_VERSION").is_file() {
        return Err(RejoinError::Precondition(format!(
            "{} is not a PostgreSQL data directory (no PG_VERSION)",
            dir.display()
        )));
    }
    if let Some(pid) = running_pid(dir) {
        return Err(RejoinError::Precondition(format!(
            "the server of {} is running (pid {pid}); stop it first: pg_ctl stop -D {}",
            dir.display(),
            dir.display()
        )));
    }
    let (host, port) = opts.primary.rsplit_once(':').ok_or_else(|| {
        RejoinError::Precondition(format!("--primary {:?} is not host:port", opts.primary))
    })?;
    let bin = match &opts.pg_bin {
        Some(b) => b.clone(),
        None => {
            crate::cluster::find_pg_bin().map_err(|e| RejoinError::Precondition(e.to_string()))?
        }
    };
    let runner = Runner {
        bin,
        owner: am_root().then(|| (meta.uid(), meta.gid())),
        password: opts.password.clone(),
    };
    let conf = saved_conf(dir)?;
    let conninfo = format!("host={host} port={port} user={} dbname=postgres", opts.user);

    let mut rewind_error = None;
    if !opts.force_basebackup {
        // A freshly promoted primary's control file still names the old
        // timeline until its first checkpoint; pg_rewind reads it there and
        // would wrongly find nothing to rewind.
        let mut cmd = runner.command("psql");
        cmd.args(["-X", "-q", "-c", "CHECKPOINT", "-d", &conninfo]);
        if let Err(e) = runner.run(cmd) {
            tracing::warn!(error = %e, "CHECKPOINT on the new primary failed; pg_rewind may see a stale timeline");
        }
        let mut cmd = runner.command("pg_rewind");
        cmd.arg(format!("--target-pgdata={}", dir.display()))
            .arg(format!("--source-server={conninfo}"));
        match runner.run(cmd) {
            Ok(()) => {
                restore_conf(dir, &conf, runner.owner)?;
                return finish(dir, host, port, opts, &runner, Method::Rewind, None, None);
            }
            Err(e) => {
                tracing::warn!(error = %e, "pg_rewind failed; falling back to pg_basebackup");
                rewind_error = Some(e.to_string());
            }
        }
    }
    let aside = aside_path(dir);
    std::fs::rename(dir, &aside).map_err(io(format!(
        "moving {} aside to {}",
        dir.display(),
        aside.display()
    )))?;
    let mut cmd = runner.command("pg_basebackup");
    cmd.arg("-D")
        .arg(dir)
        .args(["-h", host, "-p", port, "-U", &opts.user])
        .args(["-X", "stream", "-c", "fast"]);
    runner.run(cmd)?;
    restore_conf(dir, &conf, runner.owner)?;
    finish(
        dir,
        host,
        port,
        opts,
        &runner,
        Method::Basebackup,
        rewind_error,
        Some(aside),
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    dir: &Path,
    host: &str,
    port: &str,
    opts: &RejoinOptions,
    runner: &Runner,
    method: Method,
    rewind_error: Option<String>,
    moved_aside: Option<PathBuf>,
) -> Result<Rejoined, RejoinError> {
    write_standby_config(
        dir,
        host,
        port,
        &opts.user,
        opts.password.as_deref(),
        runner.owner,
    )?;
    let as_owner = match runner.owner {
        Some((uid, _)) => format!("as the data directory's owner (uid {uid}): "),
        None => String::new(),
    };
    let start_hint = format!(
        "{as_owner}{} -D {} -l {}/rejoin.log start   (or start its service); it comes up as a replica \
         of {host}:{port}, and pgsplit admits it for reads once it streams",
        runner.bin.join("pg_ctl").display(),
        dir.display(),
        dir.display()
    );
    Ok(Rejoined {
        method,
        rewind_error,
        moved_aside,
        start_hint,
    })
}

/// `standby.signal`, and in `postgresql.auto.conf` a `primary_conninfo`
/// pointing at the new primary (old `primary_conninfo`/`primary_slot_name`
/// lines removed: the slot may not exist there).
fn write_standby_config(
    dir: &Path,
    host: &str,
    port: &str,
    user: &str,
    password: Option<&str>,
    owner: Option<(u32, u32)>,
) -> Result<(), RejoinError> {
    let auto = dir.join("postgresql.auto.conf");
    let old = std::fs::read_to_string(&auto).unwrap_or_default();
    let mut text: String = old
        .lines()
        .filter(|l| {
            let key = l.trim_start();
            !(key.starts_with("primary_conninfo") || key.starts_with("primary_slot_name"))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let quote = |s: &str| s.replace('\\', "\\\\").replace('\'', "\\'");
    let mut conninfo = format!("host={host} port={port} user={}", quote(user));
    if let Some(p) = password {
        conninfo.push_str(&format!(" password={}", quote(p)));
    }
    text.push_str(&format!(
        "# written by pgsplit rejoin\nprimary_conninfo = '{}'\n",
        conninfo.replace('\'', "''")
    ));
    write_owned(&auto, &text, owner)?;
    write_owned(&dir.join("standby.signal"), "", owner)
}

fn write_owned(path: &Path, text: &str, owner: Option<(u32, u32)>) -> Result<(), RejoinError> {
    std::fs::write(path, text).map_err(io(format!("writing {}", path.display())))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(io(format!("chown {}", path.display())))?;
    }
    Ok(())
}

/// The node's own top-level `*.conf` files (port, listen address, hba…).
fn saved_conf(dir: &Path) -> Result<Vec<(String, String)>, RejoinError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(format!("reading {}", dir.display())))? {
        let path = entry.map_err(io("reading the data directory"))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(name) = name.filter(|n| n.ends_with(".conf") && path.is_file()) {
            let text = std::fs::read_to_string(&path).map_err(io(format!("reading {name}")))?;
            out.push((name, text));
        }
    }
    Ok(out)
}

fn restore_conf(
    dir: &Path,
    conf: &[(String, String)],
    owner: Option<(u32, u32)>,
) -> Result<(), RejoinError> {
    conf.iter()
        .try_for_each(|(name, text)| write_owned(&dir.join(name), text, owner))
}

fn aside_path(dir: &Path) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut name = dir.as_os_str().to_owned();
    name.push(format!(".pgsplit-old-{secs}"));
    PathBuf::from(name)
}

/// The postmaster's pid, if `postmaster.pid` names a live process.
fn running_pid(dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(dir.join("postmaster.pid")).ok()?;
    let pid: u32 = text.lines().next()?.trim().parse().ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(") ").map(|(_, rest)| rest);
    state
        .is_none_or(|s| !s.starts_with(['Z', 'X']))
        .then_some(pid)
}

fn am_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs PostgreSQL programs as the data directory's owner.
struct Runner {
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    password: Option<String>,
}

impl Runner {
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.current_dir("/").stdin(Stdio::null()).env("LC_ALL", "C");
        if let Some(p) = &self.password {
            cmd.env("PGPASSWORD", p);
        }
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn run(&self, mut cmd: Command) -> Result<(), RejoinError> {
        let command: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let command = command.join(" ");
        tracing::info!(%command, "rejoin: running");
        let out = cmd.output().map_err(io(format!("running `{command}`")))?;
        if out.status.success() {
            return Ok(());
        }
        Err(RejoinError::Command {
            command,
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}
