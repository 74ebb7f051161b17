//! The `pgsplit` binary as a child process (for tests that measure its
//! memory and file descriptors from `/proc`), killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ProxyProcess {
    child: Child,
    pub port: u16,
    pub admin_port: u16,
    config: PathBuf,
    log: PathBuf,
}

fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

impl ProxyProcess {
    /// Starts the binary on the shared cluster's config; `listen` is added
    /// to `[listen]`, `extra` appended (new sections). Waits until it accepts.
    pub fn start(listen: &str, extra: &str) -> ProxyProcess {
        let (port, admin_port) = (free_port(), free_port());
        let text = super::config_text()
            .replacen(
                "[listen]\naddr = \"127.0.0.1:0\"\n",
                &format!("[listen]\naddr = \"127.0.0.1:{port}\"\n{listen}"),
                1,
            )
            .replacen(
                "[admin]\naddr = \"127.0.0.1:0\"\n",
                &format!("[admin]\naddr = \"127.0.0.1:{admin_port}\"\n"),
                1,
            );
        let text = format!("{text}{extra}\n[log]\nlevel = \"warn\"\n");
        let config =
            std::env::temp_dir().join(format!("pgsplit-test-{}-{port}.toml", std::process::id()));
        if let Err(e) = std::fs::write(&config, text) {
            panic!("writing {}: {e}", config.display());
        }
        let log = config.with_extension("log");
        let stderr = match std::fs::File::create(&log) {
            Ok(f) => Stdio::from(f),
            Err(e) => panic!("creating {}: {e}", log.display()),
        };
        let child = Command::new(env!("CARGO_BIN_EXE_pgsplit"))
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => panic!("starting pgsplit: {e}"),
        };
        let p = ProxyProcess {
            child,
            port,
            admin_port,
            config,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "pgsplit did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_else(|e| panic!("reading the proxy's /proc status: {e}"));
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in {status}"))
    }

    /// Open file descriptors (entries of `/proc/<pid>/fd`).
    pub fn fds(&self) -> usize {
        match std::fs::read_dir(format!("/proc/{}/fd", self.pid())) {
            Ok(d) => d.count(),
            Err(e) => panic!("reading the proxy's fds: {e}"),
        }
    }

    /// What the proxy wrote to stderr (its log, and any panic message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Still running (not crashed)?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={} password={} dbname={}",
            self.port,
            super::USER,
            super::PASSWORD,
            super::DATABASE
        )
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
        if std::thread::panicking() {
            eprintln!("pgsplit's log:\n{}", self.log());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
