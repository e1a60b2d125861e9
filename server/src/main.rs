//! `xuncha-server`: `serve` runs the sync server.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use xuncha_server::{Config, Server};

#[derive(Parser)]
#[command(name = "xuncha-server", version, about = "Xuncha 巡查 sync server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (embedded SQLite under --data unless --database is given).
    Serve {
        /// Config file (TOML); environment variables override it, flags override both.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data folder: SQLite database and photos.
        #[arg(long)]
        data: Option<PathBuf>,
        /// PostgreSQL URL, e.g. postgres://user@host/db (or env XUNCHA_DATABASE_URL).
        #[arg(long)]
        database: Option<String>,
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
        /// Seed demo estates, units and one account per role; print the accounts. Into a
        /// database without cases it also seeds a quarter of history (about a hundred cases).
        #[arg(long)]
        demo: bool,
        /// With --demo: seed the accounts only, no history (an empty queue).
        #[arg(long, requires = "demo")]
        no_history: bool,
    },
    #[command(flatten)]
    Admin(xuncha_server::cli::AdminCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Admin(command) => xuncha_server::cli::run(command).await?,
        Command::Serve {
            config,
            data,
            database,
            bind,
            demo,
            no_history,
        } => {
            let mut config = Config::load(config.as_deref()).context("loading configuration")?;
            if let Some(data) = data {
                config.data_dir = data;
            }
            if let Some(url) = database {
                config.database_url = Some(url);
            }
            if let Some(bind) = bind {
                config.bind = bind;
            }
            config.demo |= demo;
            config.demo_history |= demo && !no_history;
            tracing::info!(?config, "starting");
            let server = Server::start(config).await.context("starting the server")?;
            if !server.demo_accounts().is_empty() {
                println!(
                    "Demo accounts (password for all: {}):",
                    xuncha_server::demo::DEMO_PASSWORD
                );
                for account in server.demo_accounts() {
                    println!(
                        "  {:<24} {:<14} {} ({})",
                        account.username,
                        account.role.code(),
                        account.unit_name,
                        account.unit_id
                    );
                }
            }
            if let Some(history) = server.demo_history() {
                println!(
                    "demo: seeded {} cases ({} events, {} photos, over the last 90 days) in {:.1} s",
                    history.cases,
                    history.events,
                    history.photos,
                    history.millis as f64 / 1000.0
                );
            }
            println!(
                "Xuncha server on http://{}/  (API document: /api/openapi.json)",
                server.addr()
            );
            println!("Xuncha dashboard: http://{}/dashboard/", server.addr());
            let stop = tokio::signal::ctrl_c();
            tokio::select! {
                result = stop => { result.context("waiting for Ctrl-C")?; }
            }
            server.shutdown().await.context("shutting down")?;
        }
    }
    Ok(())
}
