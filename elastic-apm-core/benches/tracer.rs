//! The hot path: start a transaction, start and end ten spans, end the transaction,
//! hand every event to the reporter. Twice: to a reporter that drops each event as it
//! gets it (the tracer's own cost), and to the APM Server transport, whose queue the
//! events go into and whose thread writes them and hands them back to be dropped. The
//! second adds what that hand-over costs: every event's and queue slot's cache lines
//! go to the reporter's core and back. A third bench times that hand-over alone, with
//! no tracer, so that the difference can be told apart from the tracer's own cost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;
use elastic_apm_core::model::Event;
use elastic_apm_core::{Agent, CloudProvider};

#[path = "support/hot_path.rs"]
mod hot_path;
use hot_path::one_request;

fn agent(enabled: bool) -> Agent {
    agent_with(enabled, true)
}

fn agent_with(enabled: bool, breakdown: bool) -> Agent {
    // A reporter that drops events, so the numbers are the tracer's alone.
    Agent::builder()
        .read_env(false)
        .enabled(enabled)
        .breakdown_metrics(breakdown)
        .reporter(|event: Event| drop(black_box(event)))
        .build()
}

fn transaction_with_spans(c: &mut Criterion) {
    let enabled = agent(true);
    let without_breakdown = agent_with(true, false);
    // Side by side: breakdown metrics cost the request path nothing (the transport works
    // them out on its own thread; see examples/hot_path.rs for that thread's share).
    for (name, agent) in [
        ("transaction + 10 spans", &enabled),
        (
            "transaction + 10 spans (breakdown_metrics=false)",
            &without_breakdown,
        ),
    ] {
        c.bench_function(name, |b| b.iter(|| one_request(agent)));
    }

    c.bench_function("transaction + 10 spans via current context", |b| {
        b.iter(|| {
            let tx = enabled.start_transaction("GET /products/{id}", "request");
            let _guard = tx.segment().map(|s| s.enter());
            for _ in 0..10 {
                elastic_apm_core::with_span("SELECT FROM products", "db", |span| {
                    black_box(span);
                });
            }
        });
    });

    let disabled = agent(false);
    c.bench_function("transaction + 10 spans (disabled agent)", |b| {
        b.iter(|| {
            let tx = disabled.start_transaction("GET /products/{id}", "request");
            for _ in 0..10 {
                tx.start_span("SELECT FROM products", "db").end();
            }
            tx.end();
        });
    });
}

/// Transactions per timed stretch: 506 events, just short of the queue length at which
/// the reporter thread is woken at once; it writes them after the stretch, untimed (a
/// flush), as it does between the batches of a server under load. As there, the
/// application's thread drops the events the reporter has written (the transport's
/// `spent` queue), and that is timed.
const STRETCH: u64 = 46;

fn queued_for_apm_server(c: &mut Criterion) {
    let agent = Agent::builder()
        .read_env(false)
        .service_name("bench")
        .server_url(intake_sink())
        .cloud_provider(CloudProvider::None)
        .central_config(false)
        .build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("queued");
    // Most of the wall time is the reporter's, untimed.
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("transaction + 10 spans, queued for APM Server", |b| {
        b.iter_custom(|iterations| {
            in_stretches(
                iterations,
                |_| one_request(&agent),
                || {
                    assert!(runtime.block_on(agent.flush(Duration::from_secs(10))));
                    let health = agent.health();
                    assert_eq!(health.dropped(), 0, "{health:?}");
                },
            )
        });
    });
    hand_over_alone(&mut group);
    group.finish();
}

/// The hand-over without the tracer, for scale: per "request", eleven boxed events of a
/// span event's size (336 bytes) pushed onto an array queue, each taking one written
/// event back to drop, as `report` does; untimed after each stretch, a thread that
/// reads every byte of every event and hands them back. Each line crosses to that
/// thread's core and back, so this is about the least any design that allocates an
/// event and serialises it on another thread pays on this machine.
fn hand_over_alone(group: &mut BenchmarkGroup<'_, WallTime>) {
    /// As large as a span event, and nothing else.
    type SpanSized = Box<[u64; 42]>;
    const EVENTS: usize = 11 * STRETCH as usize;
    let queue = Arc::new(ArrayQueue::<SpanSized>::new(EVENTS));
    let spent = Arc::new(ArrayQueue::<SpanSized>::new(EVENTS));
    let (drain, drains) = mpsc::channel::<()>();
    let (drained, done) = mpsc::channel::<u64>();
    {
        let (queue, spent) = (queue.clone(), spent.clone());
        std::thread::spawn(move || {
            for () in drains {
                let mut sum = 0u64;
                while let Some(event) = queue.pop() {
                    sum = event.iter().fold(sum, |sum, word| sum.wrapping_add(*word));
                    let _ = spent.push(event);
                }
                if drained.send(sum).is_err() {
                    return;
                }
            }
        });
    }
    group.bench_function("hand-over alone: 11 events of 336 bytes, no tracer", |b| {
        b.iter_custom(|iterations| {
            in_stretches(
                iterations,
                |request| {
                    for event in 0..11 {
                        drop(spent.pop());
                        let pushed = queue.push(Box::new([request ^ event; 42]));
                        assert!(pushed.is_ok());
                    }
                },
                || {
                    drain.send(()).unwrap();
                    black_box(done.recv().unwrap());
                },
            )
        });
    });
}

/// Runs `request` `iterations` times, [`STRETCH`] at a time, and `between` the
/// stretches, untimed; returns the time `request` took.
fn in_stretches(
    iterations: u64,
    mut request: impl FnMut(u64),
    mut between: impl FnMut(),
) -> Duration {
    let mut timed = Duration::ZERO;
    let mut left = iterations;
    while left > 0 {
        let stretch = left.min(STRETCH);
        let start = Instant::now();
        for n in 0..stretch {
            request(n);
        }
        timed += start.elapsed();
        left -= stretch;
        between();
    }
    timed
}

/// A stand-in APM Server on loopback: reads every request and answers `202 Accepted`.
fn intake_sink() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    url
}

/// HTTP/1.1 requests on one connection, bodies chunked or of a known length.
fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut line = String::new();
    loop {
        let (mut chunked, mut length) = (false, 0);
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let header = line.to_ascii_lowercase();
            if header == "\r\n" {
                break;
            }
            chunked |= header.starts_with("transfer-encoding:") && header.contains("chunked");
            if let Some(value) = header.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        if chunked {
            loop {
                line.clear();
                reader.read_line(&mut line)?;
                let size = u64::from_str_radix(line.trim(), 16).unwrap();
                // The chunk and its CRLF; after the last (empty) chunk, the final CRLF.
                std::io::copy(&mut (&mut reader).take(size + 2), &mut std::io::sink())?;
                if size == 0 {
                    break;
                }
            }
        } else {
            std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink())?;
        }
        writer.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")?;
    }
}

fn capture_error(c: &mut Criterion) {
    let agent = agent(true);
    let tx = agent.start_transaction("POST /orders", "request");
    let segment = tx.segment();
    let error = std::io::Error::other("connection refused");
    c.bench_function(
        "capture error (raw stack; symbolised later by the reporter)",
        |b| {
            b.iter(|| segment.as_ref().map(|s| s.capture_error(black_box(&error))));
        },
    );
}

criterion_group!(
    benches,
    transaction_with_spans,
    queued_for_apm_server,
    capture_error
);
criterion_main!(benches);
