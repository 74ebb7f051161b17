//! What the cluster needs from the machine: the PostgreSQL programs, the
//! OS user to run them as when we are root, a private directory, a watchdog
//! that cleans up after a killed process, and free ports.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{random_token, ClusterError};

/// Directory with the PostgreSQL server programs: `$PGSPLIT_PG_BIN`, else
/// `pg_config --bindir`, else the newest `/usr/lib/postgresql/*/bin`.
pub fn find_pg_bin() -> Result<PathBuf, ClusterError> {
    find_pg_bin_in(
        std::env::var_os("PGSPLIT_PG_BIN").map(PathBuf::from),
        Path::new("/usr/lib/postgresql"),
    )
}

pub(super) fn find_pg_bin_in(
    env: Option<PathBuf>,
    versions_dir: &Path,
) -> Result<PathBuf, ClusterError> {
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

pub(super) fn running_as_root() -> bool {
    match std::fs::metadata("/proc/self") {
        Ok(meta) => meta.uid() == 0,
        Err(_) => Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0"),
    }
}

/// `(uid, gid)` of `user` from /etc/passwd.
pub(super) fn passwd_lookup(user: &str) -> Option<(u32, u32)> {
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
pub(super) fn create_root(run_as: Option<(u32, u32)>) -> Result<PathBuf, ClusterError> {
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
pub(super) fn spawn_watchdog(root: &Path) -> std::io::Result<Child> {
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

pub(super) fn free_port() -> Result<u16, ClusterError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ClusterError::io("finding a free port on 127.0.0.1", e))
}
