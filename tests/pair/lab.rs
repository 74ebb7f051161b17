//! A throwaway network of hosts made of network namespaces: a bridge in a
//! namespace of its own, and one namespace per host joined to it by a veth
//! pair created inside the namespaces, so nothing touches the root
//! namespace. Every process started here is a child of the test, ended by
//! its pid; every namespace is deleted when the `Lab` is dropped, also on
//! panic.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    /// (what, child), in start order; stopped in reverse.
    children: Vec<(String, Child)>,
    pub dir: PathBuf,
}

/// Runs a command to completion; stdout on success, a message otherwise.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    text(program, args, out)
}

fn text(program: &str, args: &[&str], out: Output) -> Result<String, String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

impl Lab {
    pub fn new() -> Lab {
        let prefix = format!("pgs{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("pgsplit-pair-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("lab dir");
        Lab {
            prefix,
            namespaces: Vec::new(),
            children: Vec::new(),
            dir,
        }
    }

    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    fn add_ns(&mut self, host: &str) -> String {
        let ns = self.ns(host);
        run("ip", &["netns", "add", &ns]).expect("ip netns add");
        self.namespaces.push(ns.clone());
        run("ip", &["-n", &ns, "link", "set", "lo", "up"]).expect("lo up");
        ns
    }

    /// The bridge host: a namespace holding only `br0`.
    pub fn bridge(&mut self) {
        let br = self.add_ns("br");
        run("ip", &["-n", &br, "link", "add", "br0", "type", "bridge"]).expect("bridge");
        run("ip", &["-n", &br, "link", "set", "br0", "up"]).expect("bridge up");
    }

    /// A host with `eth0` at `cidr`, plugged into the bridge.
    pub fn host(&mut self, host: &str, cidr: &str) {
        let ns = self.add_ns(host);
        let br = self.ns("br");
        let port = format!("v-{host}");
        run(
            "ip",
            &[
                "-n", &br, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ],
        )
        .expect("veth");
        run(
            "ip",
            &["-n", &br, "link", "set", &port, "master", "br0", "up"],
        )
        .expect("port up");
        run("ip", &["-n", &ns, "addr", "add", cidr, "dev", "eth0"]).expect("addr");
        run("ip", &["-n", &ns, "link", "set", "eth0", "up"]).expect("eth0 up");
    }

    /// `ip netns exec <host's ns> program args...` (exec: the child's pid is
    /// the program's).
    pub fn command(&self, host: &str, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(host), program])
            .args(args);
        cmd
    }

    /// Runs a program inside a host to completion.
    pub fn exec(&self, host: &str, program: &str, args: &[&str]) -> Result<String, String> {
        let out = self
            .command(host, program, args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        text(program, args, out)
    }

    /// Starts a long-running process, kept for cleanup; returns its pid.
    pub fn spawn(&mut self, what: &str, mut cmd: Command) -> u32 {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let pid = child.id();
        self.children.push((what.to_owned(), child));
        pid
    }

    pub fn child(&mut self, what: &str) -> &mut Child {
        match self.children.iter_mut().find(|(w, _)| w == what) {
            Some((_, c)) => c,
            None => panic!("no process {what}"),
        }
    }

    /// Sends a signal to a process this lab started.
    pub fn signal(&mut self, what: &str, sig: &str) {
        let pid = self.child(what).id();
        let _ = run("kill", &[&format!("-{sig}"), &pid.to_string()]);
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        let mut f = std::fs::File::create(&path).expect("write lab file");
        f.write_all(text.as_bytes()).expect("write lab file");
        path
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return true,
            Ok(None) if Instant::now() > deadline => return false,
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        while let Some((what, mut child)) = self.children.pop() {
            if matches!(child.try_wait(), Ok(Some(_))) {
                continue;
            }
            // A child with a pipe on stdin (the database host) stops when
            // it closes; the others get SIGTERM.
            let graceful = match child.stdin.take() {
                Some(stdin) => {
                    drop(stdin);
                    Duration::from_secs(30)
                }
                None => {
                    let _ = run("kill", &["-TERM", &child.id().to_string()]);
                    Duration::from_secs(5)
                }
            };
            if !wait_exit(&mut child, graceful) {
                eprintln!("lab: {what} did not stop; killing pid {}", child.id());
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        for ns in self.namespaces.drain(..).rev() {
            if let Err(e) = run("ip", &["netns", "del", &ns]) {
                eprintln!("lab: {e}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
