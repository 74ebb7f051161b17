//! Processes the harness starts, each ended by its own pid (and the process
//! group it was started in) when its guard drops; a watchdog shell per
//! daemon ends it too if the harness dies without running `Drop`.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The command that starts `program` as a daemon: in a session of its own
/// (`setsid`, which execs it in place, so the pid stays), as PgBouncer's
/// `-d` and systemd start services. On a kernel with autogroup scheduling
/// (`/proc/sys/kernel/sched_autogroup_enabled`), a process started from the
/// harness's session would share one CPU share with pgbench; every target
/// gets the same treatment.
pub fn daemon_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new("setsid");
    cmd.arg(program);
    cmd
}

/// A daemon started by the harness, in its own session and process group.
pub struct Daemon {
    pub name: &'static str,
    child: Child,
    /// Signal that makes it shut down fast (pgpool: INT, the others: TERM).
    stop_signal: &'static str,
    watchdog: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    /// Spawns `cmd` (from [`daemon_command`]) with stdout and stderr going
    /// to `log`.
    pub fn spawn(
        name: &'static str,
        mut cmd: Command,
        log: &Path,
        stop_signal: &'static str,
    ) -> Result<Daemon, String> {
        let out = File::create(log).map_err(|e| format!("{name}: log {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| format!("{name}: {e}"))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{name}: cannot start {cmd:?}: {e}"))?;
        let watchdog = spawn_watchdog(child.id()).ok();
        Ok(Daemon {
            name,
            child,
            stop_signal,
            watchdog,
            log: log.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error naming the daemon, with the tail of its log, if it has exited.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited ({status}); last lines of {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 20)
            )),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args([&format!("-{}", self.stop_signal), &pid])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            eprintln!("e2e: {} (pid {pid}) did not stop; SIGKILL", self.name);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Children it forked (pgpool's) are in the group we created for it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

/// Kills `pid`'s process group once this process is gone.
fn spawn_watchdog(pid: u32) -> std::io::Result<Child> {
    const SCRIPT: &str = r#"
while kill -0 "$1" 2>/dev/null; do
  if read -r _ _ _ ppid _ < /proc/$$/stat && [ "$ppid" != "$1" ]; then break; fi
  sleep 1
done
kill -TERM -- "-$2" 2>/dev/null; sleep 3; kill -KILL -- "-$2" 2>/dev/null
"#;
    Command::new("sh")
        .args(["-c", SCRIPT, "pgsplit-e2e-watchdog"])
        .arg(std::process::id().to_string())
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// `(uid, gid)` of `postgres` when we are root: PgBouncer and pgpool-II
/// refuse to run as root.
pub fn run_as() -> Option<(u32, u32)> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        match f.as_slice() {
            ["postgres", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
            _ => None,
        }
    })
}

/// Creates `dir` (owned by the run-as user) and writes `files` into it.
pub fn write_dir(
    dir: &Path,
    owner: Option<(u32, u32)>,
    files: &[(&str, String)],
) -> Result<(), String> {
    let err = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let mut paths = vec![dir.to_owned()];
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| err(&p, e))?;
        paths.push(p);
    }
    if let Some((uid, gid)) = owner {
        for p in &paths {
            std::os::unix::fs::chown(p, Some(uid), Some(gid)).map_err(|e| err(p, e))?;
        }
    }
    Ok(())
}

/// Finds `program` on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// CPU time used so far by every live process of process group `pgid` (a
/// daemon and what it forked), in clock ticks of 10 ms.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTicks {
    pub user: u64,
    pub system: u64,
}

pub fn group_cpu_ticks(pgid: u32) -> CpuTicks {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return CpuTicks::default();
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|stat| {
            // Fields after the command name: state ppid pgrp ... utime(14) stime(15).
            let rest: Vec<&str> = stat.rsplit_once(") ")?.1.split(' ').collect();
            let pgrp: u32 = rest.get(2)?.parse().ok()?;
            let user = rest.get(11)?.parse::<u64>().ok()?;
            let system = rest.get(12)?.parse::<u64>().ok()?;
            (pgrp == pgid).then_some(CpuTicks { user, system })
        })
        .fold(CpuTicks::default(), |a, b| CpuTicks {
            user: a.user + b.user,
            system: a.system + b.system,
        })
}
