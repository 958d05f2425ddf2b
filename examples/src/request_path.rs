//! One request through axum, bare or with `ApmLayer`, for instruction counts under
//! callgrind, which are repeatable where wall-clock timings on a shared machine are not.
//!
//! ```text
//! cargo build --release -p examples --bin request_path
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/request_path [bare|apm|apm-down|discard|full|print] 10000
//! ```
//!
//! Run it twice with different counts and divide the difference in total instructions
//! by the difference in counts: that is the cost of one request, the reporter thread's
//! encoding and sending included (`apm`, to a counting sink in a child process that
//! valgrind does not follow) or the cost with APM Server down (`apm-down`, a closed
//! port: events wait in the queue, 8192 at most, and the rest are dropped, as in
//! production), or the request path alone (`discard`: events dropped as they are handed
//! over), or the request path while the queue stays full (`full`: a reporter that says
//! it is backlogged, as the transport does once APM Server has been down for a while).
//! `print` prints the transaction one request makes.
//!
//! With `REQUEST_PATH_PACE_US=200` it idles that long before each request, as a server
//! paced at a few thousand requests per second does, and prints the median wall time
//! of a request: what caches left cold by idling cost (run it without valgrind).
// A measuring tool, not library code: it should stop loudly when its setup fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use axum::body::Body;
use elastic_apm_core::{Agent, CloudProvider};
use elastic_apm_tower::ApmLayer;
use http_body_util::BodyExt;
use intake_receiver::IntakeReceiver;
use tower::ServiceExt;

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "apm".to_owned());
    if variant == "sink" {
        sink();
        return;
    }
    let requests: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = examples::small_app::router();
    let mut child = None;
    let mut recorder = None;
    let (app, agent) = match variant.as_str() {
        "bare" => (app, None),
        // The request path alone: events are dropped as they are handed over.
        "discard" | "full" => {
            let agent = Agent::builder()
                .read_env(false)
                .service_name("request-path")
                .reporter(Discard {
                    backlogged: variant == "full",
                })
                .build();
            (app.layer(ApmLayer::new(&agent)), None)
        }
        // The transaction one request makes, as JSON.
        "print" => {
            let (agent, events) = elastic_apm_core::testing::recording_agent(|b| b);
            recorder = Some(events);
            (app.layer(ApmLayer::new(&agent)), None)
        }
        "apm" | "apm-down" => {
            let url = if variant == "apm" {
                let mut sink = Command::new(std::env::current_exe().unwrap())
                    .arg("sink")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut line = String::new();
                BufReader::new(sink.stdout.as_mut().unwrap())
                    .read_line(&mut line)
                    .unwrap();
                child = Some(sink);
                line.trim().to_owned()
            } else {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                format!("http://{}", listener.local_addr().unwrap())
            };
            let agent = Agent::builder()
                .read_env(false)
                .service_name("request-path")
                .server_url(&url)
                .cloud_provider(CloudProvider::None)
                .central_config(false)
                .metrics_interval(Duration::ZERO)
                .max_queue_size(8192)
                .build();
            (app.layer(ApmLayer::new(&agent)), Some(agent))
        }
        other => panic!("unknown variant {other}"),
    };
    // As `axum::serve` does (`into_make_service`): handlers become routes, with their
    // layers, once, not on every call.
    let app = app.with_state(());
    let pace = std::env::var("REQUEST_PATH_PACE_US")
        .ok()
        .and_then(|us| us.parse().ok())
        .map(Duration::from_micros);
    let mut timings = Vec::new();
    runtime.block_on(async {
        for i in 0..requests {
            if let Some(pace) = pace {
                std::thread::sleep(pace);
            }
            let started = std::time::Instant::now();
            let request = http::Request::get(format!("/products/{}", i % 1000))
                .header("host", "localhost:3000")
                .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0)")
                .header("accept", "application/json")
                .header("accept-encoding", "gzip, deflate, br")
                .header("accept-language", "en-GB,en;q=0.5")
                .body(Body::empty())
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            let body = response.into_body().collect().await.unwrap();
            black_box(body);
            if pace.is_some() {
                timings.push(started.elapsed());
            }
        }
    });
    if !timings.is_empty() {
        timings.sort_unstable();
        let at = |q: f64| timings[((timings.len() - 1) as f64 * q) as usize].as_nanos();
        eprintln!(
            "{variant}: request wall time, ns: p25 {} median {} p75 {}",
            at(0.25),
            at(0.5),
            at(0.75)
        );
    }
    if let Some(events) = recorder {
        let metadata = elastic_apm_core::Agent::disabled().metadata();
        print!("{}", events.to_ndjson(&metadata));
    }
    if let Some(agent) = agent {
        let delivered = runtime.block_on(agent.flush(Duration::from_secs(60)));
        eprintln!("delivered: {delivered}; {:?}", agent.health());
    }
    if let Some(mut child) = child {
        drop(child.stdin.take());
        let mut counts = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut counts)
            .unwrap();
        eprintln!("sink received: {}", counts.trim());
        child.wait().unwrap();
    }
}

/// Drops every event; says its queue is full when `backlogged`.
struct Discard {
    backlogged: bool,
}

impl elastic_apm_core::Reporter for Discard {
    fn report(&self, event: elastic_apm_core::model::Event) {
        drop(black_box(event));
    }

    fn is_backlogged(&self) -> bool {
        self.backlogged
    }

    fn drop_if_backlogged(&self, _kind: elastic_apm_core::report::EventKind) -> bool {
        self.backlogged
    }
}

/// The counting intake sink: prints its URL, then the counts when stdin closes.
fn sink() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let receiver = runtime.block_on(IntakeReceiver::start_counting());
    println!("{}", receiver.url());
    std::io::stdout().flush().unwrap();
    // Serve until the parent closes our stdin.
    let _ = std::thread::spawn(move || {
        let _ = std::io::stdin().read_line(&mut String::new());
        println!("{:?}", receiver.counts());
        std::io::stdout().flush().unwrap();
        std::process::exit(0);
    });
    runtime.block_on(std::future::pending::<()>());
}
