//! A streaming replica: base backup from the current primary, its own slot,
//! started and waited for until the primary shows it streaming.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{node, Cluster, ClusterError, Node, WAIT};

impl Cluster {
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
}
