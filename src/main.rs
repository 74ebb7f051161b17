//! The `pgsplit` command: parses the CLI, starts logging, calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod ops;
mod output;

#[derive(Parser)]
#[command(
    name = "pgsplit",
    version,
    about = "PostgreSQL read/write-splitting proxy"
)]
struct Cli {
    /// Configuration file (for running the proxy).
    #[arg(long, short, default_value = "proxy.toml", global = true)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy (the default).
    Run,
    /// Throwaway primary + streaming replica + proxy on 127.0.0.1:6432.
    Demo {
        /// Where the proxy listens.
        #[arg(long, default_value = "127.0.0.1:6432")]
        listen: String,
    },
    /// Validate a configuration file and print the effective values.
    ConfigCheck { file: PathBuf },
    /// Turn a stopped stale primary into a replica of the new primary
    /// (pg_rewind, or pg_basebackup), then say how to start it.
    Rejoin {
        /// Data directory of the stopped server.
        #[arg(long)]
        data_dir: PathBuf,
        /// The new primary, host:port.
        #[arg(long)]
        primary: String,
        /// User for pg_rewind/pg_basebackup and primary_conninfo (superuser or REPLICATION + rewind grants).
        #[arg(long, default_value = "postgres")]
        user: String,
        /// Environment variable holding that user's password.
        #[arg(long)]
        password_env: Option<String>,
        /// Directory with pg_rewind and pg_basebackup.
        #[arg(long)]
        pg_bin: Option<PathBuf>,
        /// Skip pg_rewind: move the data directory aside, take a fresh base backup.
        #[arg(long)]
        force_basebackup: bool,
    },
    /// Exit 0 if the local proxy accepts clients (GET /health is 200); for keepalived.
    Check {
        /// The proxy's admin endpoint.
        #[arg(long, default_value = "127.0.0.1:9930")]
        admin: String,
    },
    /// Print the topology table: of a running proxy (GET /status on --admin,
    /// the default), or by probing the backends of --config once (--probe).
    Status {
        /// The proxy's admin endpoint.
        #[arg(long, default_value = "127.0.0.1:9930")]
        admin: String,
        /// Probe the backends of --config directly instead of asking a proxy.
        #[arg(long)]
        probe: bool,
        /// Bearer token when `[admin] token` is set.
        #[arg(long, env = "PGSPLIT_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let workers = match cli.command {
        // A config that fails to load is reported below.
        None | Some(Command::Run) => pgsplit::config::Config::load(&cli.config)
            .map(|c| c.listen.worker_threads())
            .ok(),
        _ => None,
    };
    // One worker: the current-thread scheduler, which skips the work-
    // stealing machinery (measured: ~0.5 µs of proxy CPU per transaction).
    let mut builder = match workers {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pgsplit: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = match pgsplit::config::Config::load(&cli.config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("pgsplit: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(&config.log);
            rt.block_on(ops::run(config))
        }
        Command::Demo { listen } => {
            init_logging(&pgsplit::config::Log::default());
            rt.block_on(demo::run(listen))
        }
        Command::Status { probe: true, .. } => {
            let config = match pgsplit::config::Config::load(&cli.config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("pgsplit: {e}");
                    return ExitCode::from(2);
                }
            };
            let topology = rt.block_on(pgsplit::topology::status::probe_once(&config));
            let code = match topology.primary {
                Some(_) => ExitCode::SUCCESS,
                None => ExitCode::FAILURE,
            };
            output::print(&pgsplit::topology::status::render(&topology), code)
        }
        Command::Rejoin {
            data_dir,
            primary,
            user,
            password_env,
            pg_bin,
            force_basebackup,
        } => {
            init_logging(&pgsplit::config::Log::default());
            let password = match password_env.map(|v| std::env::var(&v).map_err(|_| v)) {
                None => None,
                Some(Ok(p)) => Some(p),
                Some(Err(var)) => {
                    eprintln!(
                        "pgsplit: rejoin: environment variable {var} (--password-env) is not set"
                    );
                    return ExitCode::from(2);
                }
            };
            let opts = pgsplit::rejoin::RejoinOptions {
                data_dir,
                primary,
                user,
                password,
                pg_bin,
                force_basebackup,
            };
            match pgsplit::rejoin::rejoin(&opts) {
                Ok(done) => {
                    let mut text = String::new();
                    if let Some(e) = &done.rewind_error {
                        text += &format!("pg_rewind failed ({e}); used pg_basebackup instead\n");
                    }
                    if let Some(old) = &done.moved_aside {
                        text += &format!("the old data directory was kept at {}\n", old.display());
                    }
                    text += &format!(
                        "{} is now configured as a replica ({:?}). Start it:\n  {}\n",
                        opts.data_dir.display(),
                        done.method,
                        done.start_hint
                    );
                    output::print(&text, ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("pgsplit: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::ConfigCheck { file } => match pgsplit::config::Config::load(&file) {
            Ok(c) => output::print(
                &format!("# {}: valid\n{}\n", file.display(), c.effective()),
                ExitCode::SUCCESS,
            ),
            Err(e) => {
                eprintln!("pgsplit: {e}");
                ExitCode::from(2)
            }
        },
        Command::Check { admin } => rt.block_on(ops::check(&admin)),
        Command::Status { admin, token, .. } => rt.block_on(ops::status(&admin, token.as_deref())),
    }
}

/// Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn init_logging(log: &pgsplit::config::Log) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log.format {
        pgsplit::config::LogFormat::Json => builder.json().init(),
        pgsplit::config::LogFormat::Text => builder.init(),
    }
}
