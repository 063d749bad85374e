//! `server`: the API for ECS.
//!
//! ```text
//! server [serve]                                   serve on 0.0.0.0:$PORT (default)
//! server migrate                                   apply the SQL migrations and exit
//! server issue-token --owner O --scope S [--scope S ...] [--days N]
//!                                                  create a token, print it once
//! server healthcheck                               GET 127.0.0.1:$PORT/livez, exit 0 on 200
//!                                                  (the image's HEALTHCHECK: no curl needed,
//!                                                  no database: /healthz is the deep check)
//! ```
//! Configuration from the environment: DB_HOST, DB_PORT, DB_NAME, DB_SSLMODE, DB_SSLROOTCERT,
//! DB_SECRET_ARN (or DB_USERNAME and DB_PASSWORD), PORT, MIGRATE_ON_START, RUST_LOG; with
//! DB_SECRET_ARN also the AWS SDK's (region, credentials, AWS_ENDPOINT_URL).

use fleet_core::RouteTable;
use fleet_db::CredentialCache;
use fleet_server::{AppState, ServerConfig, router, server_pool, shutdown_signal};
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str =
    "usage: server [serve | migrate | healthcheck | issue-token --owner OWNER --scope SCOPE [--scope SCOPE ...] [--days N]]";

/// `GET /livez` on the local server; no configuration besides `PORT` needed.
fn healthcheck() -> Result<(), String> {
    use std::io::{Read, Write};
    let port = std::env::var("PORT").ok().and_then(|p| p.parse::<u16>().ok()).unwrap_or(8080);
    let timeout = std::time::Duration::from_secs(3);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("healthcheck: {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    s.write_all(b"GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).map_err(|e| format!("healthcheck: {e}"))?;
    if &head == b"HTTP/1.1 200" {
        Ok(())
    } else {
        Err(format!("healthcheck: /livez answered {:?}", String::from_utf8_lossy(&head)))
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).init();
}

/// One connection with the current credentials (the one-shot commands).
fn connect(config: &ServerConfig, credentials: &CredentialCache) -> Result<fleet_db::PgConnection, String> {
    fleet_db::credentials::connect_with(&config.db, credentials).map_err(|e| e.to_string())
}

fn migrate(config: &ServerConfig, credentials: &CredentialCache) -> Result<(), String> {
    let mut conn = connect(config, credentials)?;
    let applied = fleet_db::migrate(&mut conn).map_err(|e| e.to_string())?;
    tracing::info!(applied = ?applied, "migrations up to date");
    Ok(())
}

fn issue_token(config: &ServerConfig, credentials: &CredentialCache, args: &[String]) -> Result<(), String> {
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
    let mut conn = connect(config, credentials)?;
    let token = fleet_db::issue_token(&mut conn, &owner, &scopes, expires).map_err(|e| e.to_string())?;
    println!("{}", token.expose());
    Ok(())
}

async fn serve(config: ServerConfig, credentials: Arc<CredentialCache>) -> Result<(), String> {
    if config.migrate_on_start {
        let (c, k) = (config.clone(), credentials.clone());
        tokio::task::spawn_blocking(move || migrate(&c, &k)).await.map_err(|e| e.to_string())??;
    }
    let state = AppState { pool: server_pool(&config, credentials), table: RouteTable::embedded() };
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
    if config.secret_arn.is_some() && (std::env::var_os("DB_USERNAME").is_some() || std::env::var_os("DB_PASSWORD").is_some()) {
        tracing::warn!("DB_SECRET_ARN is set: DB_USERNAME and DB_PASSWORD are ignored");
    }
    let result = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string()).and_then(|rt| {
        let command = args.first().map(String::as_str);
        if !matches!(command, None | Some("serve" | "migrate" | "issue-token")) {
            return Err(format!("unknown command {:?}; {USAGE}", command.unwrap_or_default()));
        }
        let credentials = rt.block_on(config.credentials()).map_err(|e| e.to_string())?;
        match command {
            Some("migrate") => migrate(&config, &credentials),
            Some("issue-token") => issue_token(&config, &credentials, &args[1..]),
            _ => rt.block_on(serve(config, credentials)),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}
