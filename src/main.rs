//! The `pgsplit` command: parses the CLI, starts logging, calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod ops;

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
    /// Exit 0 if the local proxy accepts clients (GET /health is 200); for keepalived.
    Check {
        /// The proxy's admin endpoint.
        #[arg(long, default_value = "127.0.0.1:9930")]
        admin: String,
    },
    /// Print the topology, pools and clients of a running proxy (GET /status).
    Status {
        /// The proxy's admin endpoint.
        #[arg(long, default_value = "127.0.0.1:9930")]
        admin: String,
        /// Bearer token when `[admin] token` is set.
        #[arg(long, env = "PGSPLIT_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
        Command::ConfigCheck { file } => match pgsplit::config::Config::load(&file) {
            Ok(c) => {
                println!("# {}: valid\n{}", file.display(), c.effective());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("pgsplit: {e}");
                ExitCode::from(2)
            }
        },
        Command::Check { admin } => rt.block_on(ops::check(&admin)),
        Command::Status { admin, token } => rt.block_on(ops::status(&admin, token.as_deref())),
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
