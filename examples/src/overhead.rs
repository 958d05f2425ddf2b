//! What `ApmLayer` costs a server: the same axum app, bare and instrumented, under the
//! same load over loopback.
//!
//! Run with `cargo run --release -p examples --bin overhead [-- --seconds 5 --rounds 3]`.
//! The server runs in a child process (pinned to CPU 0 when `taskset` exists, one tokio
//! worker), the load generator and a counting intake sink in this one (CPU 1). Server
//! CPU per request comes from `/proc/<pid>/stat` and includes the reporter's work
//! after the load stops. Variants alternate over rounds; medians are printed as a
//! Markdown table.
// A measuring tool, not library code: it should stop loudly when its setup fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use bytes::Bytes;
use elastic_apm_core::{Agent, CloudProvider};
use elastic_apm_tower::ApmLayer;
use http_body_util::{BodyExt, Empty};
use intake_receiver::IntakeReceiver;
use tokio::io::AsyncBufReadExt;

const CONNECTIONS: usize = 32;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve(&args[2], &args[3]);
        return;
    }
    let flag = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seconds = flag("--seconds", 5);
    let rounds = flag("--rounds", 3);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(drive(Duration::from_secs(seconds), rounds));
}

/// The server process: the app, bare or with `ApmLayer` sending to `sink`.
fn serve(variant: &str, sink: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let app = Router::new().route(
            "/products/{id}",
            get(|Path(id): Path<u32>| async move {
                format!(
                    r#"{{"id":{id},"name":"product {id}","price":{}.99}}"#,
                    id % 100
                )
            }),
        );
        let app = match variant {
            "apm" => {
                let agent = Agent::builder()
                    .read_env(false)
                    .service_name("overhead")
                    .server_url(sink)
                    .cloud_provider(CloudProvider::None)
                    .central_config(false)
                    .max_queue_size(10_000)
                    // Everything reaches the sink within the measurement's 1.5 s tail.
                    .api_request_time(Duration::from_secs(1))
                    .build();
                app.layer(ApmLayer::new(&agent))
            }
            _ => app,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        println!(
            "listening {}",
            listener.local_addr().expect("an address").port()
        );
        axum::serve(listener, app).await.expect("serving");
    });
}

struct Run {
    requests: u64,
    seconds: f64,
    cpu_us_per_request: f64,
    /// Of which the reporter thread.
    reporter_us_per_request: f64,
    p99_us: u64,
    peak_rss_kib: u64,
    exported: Option<f64>,
}

async fn drive(duration: Duration, rounds: u64) {
    let pinned = pin_self_to_cpu(1);
    let sink = IntakeReceiver::start_counting().await;
    let mut runs: Vec<(&str, Run)> = Vec::new();
    for round in 0..rounds {
        for variant in ["bare", "apm"] {
            let run = measure(variant, &sink, duration).await;
            eprintln!(
                "round {round} {variant}: {:.0} req/s, {:.1} µs CPU/request ({:.1} in the reporter)",
                run.requests as f64 / run.seconds,
                run.cpu_us_per_request,
                run.reporter_us_per_request
            );
            runs.push((variant, run));
        }
    }
    let median = |variant: &str, f: &dyn Fn(&Run) -> f64| {
        let mut values: Vec<f64> = runs
            .iter()
            .filter(|(v, _)| *v == variant)
            .map(|(_, r)| f(r))
            .collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let bare_cpu = median("bare", &|r| r.cpu_us_per_request);
    println!(
        "\n{CONNECTIONS} connections, {}s per run, {rounds} rounds, medians{}\n",
        duration.as_secs(),
        if pinned {
            "; server on CPU 0, load on CPU 1"
        } else {
            " (taskset not found: not pinned)"
        }
    );
    println!(
        "| variant | req/s | server CPU µs/request | of which reporter | vs bare | p99 latency | peak RSS | events exported |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for variant in ["bare", "apm"] {
        let cpu = median(variant, &|r| r.cpu_us_per_request);
        let exported = runs
            .iter()
            .filter(|(v, _)| *v == variant)
            .filter_map(|(_, r)| r.exported)
            .fold(None, |acc: Option<f64>, e| {
                Some(acc.map_or(e, |a| a.min(e)))
            });
        println!(
            "| {} | {:.0} | {:.1} | {:.1} | {:.2} × | {:.0} µs | {:.1} MiB | {} |",
            if variant == "apm" {
                "ApmLayer"
            } else {
                "bare axum"
            },
            median(variant, &|r| r.requests as f64 / r.seconds),
            cpu,
            median(variant, &|r| r.reporter_us_per_request),
            cpu / bare_cpu,
            median(variant, &|r| r.p99_us as f64),
            median(variant, &|r| r.peak_rss_kib as f64) / 1024.0,
            exported.map_or("–".to_owned(), |e| format!("{:.1} %", e * 100.0)),
        );
    }
}

async fn measure(variant: &str, sink: &IntakeReceiver, duration: Duration) -> Run {
    let exe = std::env::current_exe().expect("this binary");
    let mut command = if which("taskset") {
        let mut c = Command::new("taskset");
        c.arg("-c").arg("0").arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    command.args(["serve", variant, &sink.url()]);
    let mut child = tokio::process::Command::from(command)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server process");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let port: u16 = loop {
        let line = lines
            .next_line()
            .await
            .expect("server output")
            .expect("a line");
        if let Some(port) = line.strip_prefix("listening ") {
            break port.parse().expect("a port");
        }
    };
    let pid = child.id().expect("a pid");
    let before_counts = sink.counts().get("transaction").copied().unwrap_or(0);

    let (warm_up, _) = load(port, Duration::from_secs(1)).await;
    let cpu_before = cpu_ticks(pid);
    let reporter_before = reporter_ticks(pid);
    let (requests, mut latencies) = load(port, duration).await;
    // The reporter's work after the load counts too.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cpu = cpu_ticks(pid) - cpu_before;
    let reporter = reporter_ticks(pid) - reporter_before;
    let peak_rss_kib = peak_rss_kib(pid);
    let _ = child.kill().await;

    latencies.sort_unstable();
    let p99_us = latencies
        .get(latencies.len() * 99 / 100)
        .copied()
        .unwrap_or(0);
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let exported = (variant == "apm").then(|| {
        let received = sink.counts().get("transaction").copied().unwrap_or(0) - before_counts;
        received as f64 / (warm_up + requests) as f64
    });
    Run {
        requests,
        seconds: duration.as_secs_f64(),
        cpu_us_per_request: cpu as f64 / ticks_per_second * 1e6 / requests as f64,
        reporter_us_per_request: reporter as f64 / ticks_per_second * 1e6 / requests as f64,
        p99_us,
        peak_rss_kib,
        exported,
    }
}

/// `CONNECTIONS` keep-alive connections sending `GET /products/{n}` for `duration`.
async fn load(port: u16, duration: Duration) -> (u64, Vec<u64>) {
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .expect("connect");
                stream.set_nodelay(true).ok();
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                        .await
                        .expect("handshake");
                tokio::spawn(connection);
                let mut latencies = Vec::new();
                let mut n = c as u64;
                while Instant::now() < deadline {
                    let request = http::Request::get(format!("/products/{}", n % 1000))
                        .header("host", "localhost")
                        .body(Empty::<Bytes>::new())
                        .expect("a request");
                    let started = Instant::now();
                    let Ok(response) = sender.send_request(request).await else {
                        break;
                    };
                    let _ = response.into_body().collect().await;
                    latencies.push(started.elapsed().as_micros() as u64);
                    n += CONNECTIONS as u64;
                }
                Ok::<_, Infallible>(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        if let Ok(Ok(latencies)) = task.await {
            all.extend(latencies);
        }
    }
    (all.len() as u64, all)
}

/// CPU ticks of the agent's reporter thread(s), from `/proc/<pid>/task/*/stat`.
fn reporter_ticks(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with("elastic-apm"))
        })
        .map(|task| stat_ticks(&task.path().join("stat")))
        .sum()
}

fn cpu_ticks(pid: u32) -> u64 {
    stat_ticks(std::path::Path::new(&format!("/proc/{pid}/stat")))
}

fn stat_ticks(path: &std::path::Path) -> u64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // After the command: state, ppid, ... utime is the 12th field, stime the 13th.
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn which(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn pin_self_to_cpu(cpu: u32) -> bool {
    which("taskset")
        && Command::new("taskset")
            .args(["-cp", &cpu.to_string(), &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}
