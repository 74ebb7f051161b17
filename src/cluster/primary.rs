//! The primary: initdb, its configuration and pg_hba, TLS files, and the
//! roles and database the tests and the demo log in with.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use super::{Cluster, ClusterError, Node, SslFiles};

impl Cluster {
    pub(super) fn init_primary(&mut self) -> Result<(), ClusterError> {
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
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
