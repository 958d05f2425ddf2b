//! The shop service: `cargo run -p examples --bin shop`.
//!
//! `SHOP_ADDR` (default `127.0.0.1:3000`), `DATABASE_URL` (default SQLite in memory;
//! `postgres://...` for PostgreSQL), `DOWNSTREAM_URL` (where orders ask for stock;
//! default this shop), and every `ELASTIC_APM_*` setting. Ctrl-C or SIGTERM stops it
//! gracefully and sends what the agent recorded.

use std::time::Duration;

use elastic_apm_core::Agent;
use examples::shop;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // ELASTIC_APM_* environment variables override what is set here.
    let agent = Agent::builder().service_name("shop").build(); // APM
    let addr = std::env::var("SHOP_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let database_url = std::env::var("DATABASE_URL").ok();
    let db = shop::Db::connect(database_url.as_deref(), &agent).await?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    let downstream = std::env::var("DOWNSTREAM_URL").unwrap_or_else(|_| format!("http://{local}"));
    println!(
        "shop listening on http://{local} (APM Server: {})",
        agent.config().server_url
    );
    shop::serve(
        listener,
        shop::app(&agent, db, &downstream),
        shutdown_signal(),
    )
    .await?;
    let delivered = agent.shutdown(Duration::from_secs(10)).await; // APM: flush
    println!(
        "stopped; events delivered: {delivered}; {:?}",
        agent.health()
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
