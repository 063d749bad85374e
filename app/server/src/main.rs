//! `server`: the API for ECS.
//!
//! ```text
//! server [serve]                                   serve on 0.0.0.0:$PORT (default)
//! server migrate                                   apply the SQL migrations and exit
//! server issue-token --owner O --scope S [--scope S ...] [--days N]
//!                                                  create a token, print it once
//! server healthcheck                               GET 127.0.0.1:$PORT/healthz, exit 0 on 200
//!                                                  (the image's HEALTHCHECK: no curl needed)
//! ```
//! Configuration from the environment: DB_HOST, DB_PORT, DB_NAME, DB_SSLMODE, DB_USERNAME,
//! DB_PASSWORD, PORT, MIGRATE_ON_START, RUST_LOG.

use fleet_core::RouteTable;
use fleet_server::{AppState, ServerConfig, router, server_pool, shutdown_signal};
use std::process::ExitCode;

const USAGE: &str =
    "usage: server [serve | migrate | healthcheck | issue-token --owner OWNER --scope SCOPE [--scope SCOPE ...] [--days N]]";

/// `GET /healthz` on the local server; no configuration besides `PORT` needed.
fn healthcheck() -> Result<(), String> {
    use std::io::{Read, Write};
    let port = std::env::var("PORT").ok().and_then(|p| p.parse::<u16>().ok()).unwrap_or(8080);
    let timeout = std::time::Duration::from_secs(3);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("healthcheck: {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).map_err(|e| format!("healthcheck: {e}"))?;
    if &head == b"HTTP/1.1 200" {
        Ok(())
    } else {
        Err(format!("healthcheck: /healthz answered {:?}", String::from_utf8_lossy(&head)))
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).init();
}

fn migrate(config: &ServerConfig) -> Result<(), String> {
    let mut conn = fleet_db::connect(&config.db.to_conninfo()).map_err(|e| e.to_string())?;
    let applied = fleet_db::migrate(&mut conn).map_err(|e| e.to_string())?;
    tracing::info!(applied = ?applied, "migrations up to date");
    Ok(())
}

fn issue_token(config: &ServerConfig, args: &[String]) -> Result<(), String> {
    let (mut owner, mut scopes, mut days) = (None, Vec::new(), None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        match flag.as_str() {
            "--owner" => owner = Some(value.clone()),
            "--scope" => scopes.push(value.clone()),
            "--days" => {
                days = Some(value.parse::<i64>().ok().filter(|d| (1..=3650).contains(d)).ok_or_else(|| {
                    format!("--days must be a whole number from 1 to 3650, got {value:?}")
                })?)
            }
            other => return Err(format!("unknown option {other:?}; {USAGE}")),
        }
    }
    let owner = owner.ok_or_else(|| format!("--owner is required; {USAGE}"))?;
    let expires = days.map(|d| chrono::Utc::now() + chrono::Duration::days(d));
    let mut conn = fleet_db::connect(&config.db.to_conninfo()).map_err(|e| e.to_string())?;
    let token = fleet_db::issue_token(&mut conn, &owner, &scopes, expires).map_err(|e| e.to_string())?;
    println!("{}", token.expose());
    Ok(())
}

async fn serve(config: ServerConfig) -> Result<(), String> {
    if config.migrate_on_start {
        let c = config.clone();
        tokio::task::spawn_blocking(move || migrate(&c)).await.map_err(|e| e.to_string())??;
    }
    let state = AppState { pool: server_pool(&config.db.to_conninfo()), table: RouteTable::embedded() };
    let addr = std::net::SocketAddr::from(([0, 0, 0, 0], config.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}; set PORT to a free port"))?;
    tracing::info!(%addr, "serving");
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await.map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

fn main() -> ExitCode {
    init_tracing();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.first().map(String::as_str), Some("-h" | "--help" | "help")) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.first().map(String::as_str) == Some("healthcheck") {
        return match healthcheck() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match ServerConfig::from_lookup(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("server: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match args.first().map(String::as_str) {
        None | Some("serve") => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(serve(config))),
        Some("migrate") => migrate(&config),
        Some("issue-token") => issue_token(&config, &args[1..]),
        Some(other) => Err(format!("unknown command {other:?}; {USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}
