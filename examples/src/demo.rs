//! The agent at work, with no APM Server needed: `cargo run -p examples --bin demo`.
//!
//! Starts the shop (axum + `ApmLayer`, SQLite through `ApmPool`, outgoing calls through
//! the reqwest middleware) with an agent sending to the test intake receiver on
//! loopback, drives a few requests of each kind through it, shuts down gracefully, and
//! prints what APM Server would have received: one waterfall per trace. With
//! `ELASTIC_APM_SERVER_URL` set, the same requests go to that server instead.

use std::time::Duration;

use elastic_apm_core::{Agent, CloudProvider};
use examples::{shop, waterfall};
use intake_receiver::IntakeReceiver;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // /panic panics on purpose: one line, not a backtrace, in the demo's output.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("  (the shop's handler panicked, as /panic does: {info})")
    }));
    let configured = std::env::var("ELASTIC_APM_SERVER_URL").ok();
    let receiver = match configured {
        Some(_) => None,
        None => Some(IntakeReceiver::start().await),
    };
    let mut builder = Agent::builder().service_name("shop").environment("demo");
    if let Some(receiver) = &receiver {
        builder = builder
            .server_url(receiver.url())
            .central_config(false)
            .cloud_provider(CloudProvider::None);
    }
    let agent = builder.build();
    // Wait for the reporter thread to be up: it loads the binary's debug information for
    // stack traces first, and an error captured meanwhile would wait for it.
    agent.flush(Duration::from_secs(5)).await;

    let database_url = std::env::var("DATABASE_URL").ok();
    let db = shop::Db::connect(database_url.as_deref(), &agent).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(shop::serve(listener, shop::app(&agent, db, &base), async {
        let _ = stopped.await;
    }));

    println!("The shop runs on {base}; driving requests through it:");
    let client = reqwest::Client::new();
    let test_calls = format!(r#"[{{"url": "{base}/test", "arguments": []}}]"#);
    let requests: [(&str, &str, Option<String>); 9] = [
        ("GET", "/health", None),
        ("GET", "/products", None),
        ("GET", "/products/2", None),
        ("GET", "/products/99", None),
        (
            "POST",
            "/orders",
            Some(r#"{"product_id": 1, "quantity": 2}"#.to_owned()),
        ),
        (
            "POST",
            "/orders",
            Some(r#"{"product_id": 3, "quantity": 1}"#.to_owned()),
        ),
        ("GET", "/error", None),
        ("GET", "/panic", None),
        ("POST", "/test", Some(test_calls)),
    ];
    for (method, path, body) in requests {
        let request = match body {
            Some(body) => client
                .post(format!("{base}{path}"))
                .header("content-type", "application/json")
                .body(body),
            None => client.get(format!("{base}{path}")),
        };
        let status = request
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        println!("  {method:<4} {path:<14} → {status}");
    }

    // Graceful shutdown: the server stops, then the agent sends what it recorded.
    let _ = stop.send(());
    let _ = server.await;
    let delivered = agent.shutdown(Duration::from_secs(10)).await;
    let health = agent.health();
    println!(
        "\nSent to {}: {} events in {} request(s), {} bytes gzip, {} dropped; delivered: {delivered}",
        agent.config().server_url,
        health.events_sent,
        health.requests,
        health.bytes_sent,
        health.dropped()
    );

    match receiver {
        Some(receiver) => {
            let events = receiver.accepted_events();
            print!("{}", waterfall::render(&events));
            let count = |kind: &str| events.iter().filter(|(k, _)| k == kind).count();
            println!(
                "\nThe intake receiver got {} transactions, {} spans, {} errors, {} metricsets; schema violations: {}{}",
                count("transaction"),
                count("span"),
                count("error"),
                count("metricset"),
                receiver.violations().len(),
                if receiver.validates() {
                    ""
                } else {
                    " (schemas not found, not validated)"
                }
            );
            println!(
                "No APM Server was needed. Set ELASTIC_APM_SERVER_URL (and ELASTIC_APM_SECRET_TOKEN or \
                 ELASTIC_APM_API_KEY) to send to yours."
            );
        }
        None => println!("Look for service \"shop\" (environment \"demo\") in Kibana's APM app."),
    }
    Ok(())
}
