//! What the agent costs a server: the same axum apps, bare and instrumented, under the
//! same load over loopback.
//!
//! `cargo run --release -p examples --bin overhead -- --write docs/overhead.md`
//! regenerates `docs/overhead.md` (`--seconds 5 --rounds 3 --pace 4900` are the
//! defaults). The server runs in a child process (pinned to CPU 0 when `taskset`
//! exists, one tokio worker), the load generator, a counting intake sink and the
//! downstream service in this one (CPU 1). Server CPU per request comes from the
//! scheduler's account of each thread (`/proc/<pid>/task/*/schedstat`) and includes the
//! reporter's work after the load stops. Each variant runs saturated (32 connections as
//! fast as they go) and paced (the same connections at `--pace` requests per second in
//! all), between two runs of its baseline; variants take turns over rounds and the table
//! shows medians.
//!
//! Variants: `bare` (a small JSON handler), `ApmLayer` (the same with `ApmLayer`,
//! sending to a sink on 127.0.0.1, which per the spec gets uncompressed bodies), the
//! same sending gzip to a sink on 127.0.0.2 (standing for an APM Server on another
//! host), `ApmLayer, APM Server down` (sending to a closed port), and a realistic handler (a
//! SQLite query and a call to a downstream service) `bare` and with `ApmLayer`,
//! `ApmPool` and the reqwest middleware.
// A measuring tool, not library code: it should stop loudly when its setup fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use bytes::Bytes;
use elastic_apm_core::{Agent, CloudProvider};
use elastic_apm_tower::ApmLayer;
use http_body_util::{BodyExt, Empty};
use intake_receiver::IntakeReceiver;
use tokio::io::AsyncBufReadExt;

const CONNECTIONS: usize = 32;

/// The variants, in the order they run and are shown: (name, label, compared with).
const VARIANTS: &[(&str, &str, &str)] = &[
    ("bare", "bare axum", "bare"),
    ("apm", "ApmLayer", "bare"),
    ("apm-gzip", "ApmLayer, gzip to a remote APM Server", "bare"),
    ("apm-down", "ApmLayer, APM Server down", "bare"),
    ("app-bare", "query + downstream call, bare", "app-bare"),
    (
        "app-apm",
        "query + downstream call, ApmLayer + ApmPool + reqwest",
        "app-bare",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Saturated,
    /// Requests per second, over all connections.
    Paced(u64),
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve(&args[2], &args[3], &args[4]);
        return;
    }
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let number =
        |name: &str, default: u64| flag(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let seconds = number("--seconds", 5);
    let rounds = number("--rounds", 3);
    let pace = number("--pace", 4900);
    let write = flag("--write").cloned();
    // For profiling one case: `--only apm-down --mode paced`.
    let only = flag("--only").cloned();
    let mode = flag("--mode").cloned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let report = runtime.block_on(drive(
        Duration::from_secs(seconds),
        rounds,
        pace,
        only.as_deref(),
        mode.as_deref(),
    ));
    print!("{report}");
    if let Some(path) = write {
        std::fs::write(&path, report).expect("the report file");
        eprintln!("written to {path}");
    }
}

/// An agent sending to `url`, as an application would configure it, plus a queue for
/// 50 k requests/s and a request time that let everything reach the sink within the
/// measurement's tail.
fn agent(url: &str) -> Agent {
    Agent::builder()
        .read_env(false)
        .service_name("overhead")
        .server_url(url)
        .cloud_provider(CloudProvider::None)
        .central_config(false)
        .api_request_time(Duration::from_secs(1))
        // Room for the bursts of 50 k requests/s on one core shared with the reporter.
        .max_queue_size(8192)
        .build()
}

/// The server process: `variant` of the app, sending to `sink`, calling `downstream`.
fn serve(variant: &str, sink: &str, downstream: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let small = examples::small_app::router();
        let app = match variant {
            "bare" => small,
            "apm" | "apm-gzip" | "apm-down" => small.layer(ApmLayer::new(&agent(sink))),
            "app-bare" => realistic(
                Pool::Plain(sqlx_pool().await),
                reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build(),
                downstream,
            ),
            "app-apm" => {
                let agent = agent(sink);
                let pool = Pool::Apm(elastic_apm_sqlx::ApmPool::new(sqlx_pool().await, &agent));
                let client = elastic_apm_reqwest::instrument(reqwest::Client::new(), &agent);
                realistic(pool, client, downstream).layer(ApmLayer::new(&agent))
            }
            other => panic!("unknown variant {other}"),
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

/// An in-memory SQLite database of 1000 products.
async fn sqlx_pool() -> sqlx::SqlitePool {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .expect("sqlite");
    sqlx::query("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        .execute(&pool)
        .await
        .expect("a table");
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
         INSERT INTO products SELECT i, 'product ' || i, i % 100 + 0.99 FROM n",
    )
    .execute(&pool)
    .await
    .expect("rows");
    pool
}

/// The realistic handler's pool: plain, or instrumented.
#[derive(Clone)]
enum Pool {
    Plain(sqlx::SqlitePool),
    Apm(elastic_apm_sqlx::ApmPool<sqlx::Sqlite>),
}

impl Pool {
    async fn product(&self, id: u32) -> (String, f64) {
        let query = sqlx::query_as("SELECT name, price FROM products WHERE id = ?")
            .bind(i64::from(id % 1000 + 1));
        match self {
            Pool::Plain(pool) => query.fetch_one(pool).await,
            Pool::Apm(pool) => query.fetch_one(pool).await,
        }
        .expect("a product")
    }
}

/// The realistic handler's state.
type AppState = (Pool, reqwest_middleware::ClientWithMiddleware, String);

/// A handler that reads a product and asks a downstream service for its stock: the
/// same code with a plain pool and client, or with the instrumented ones.
fn realistic(
    pool: Pool,
    client: reqwest_middleware::ClientWithMiddleware,
    downstream: &str,
) -> Router {
    Router::new()
        .route(
            "/products/{id}",
            get(
                |State((pool, client, downstream)): State<AppState>, Path(id): Path<u32>| async move {
                    let (name, price) = pool.product(id).await;
                    let stock = client
                        .get(format!("{downstream}/stock/{id}"))
                        .send()
                        .await
                        .expect("the stock service")
                        .text()
                        .await
                        .unwrap_or_default();
                    format!(r#"{{"id":{id},"name":"{name}","price":{price},"stock":{stock}}}"#)
                },
            ),
        )
        .with_state((pool, client, downstream.to_owned()))
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
    /// Context switches of all the server's threads per request.
    switches_per_request: f64,
}

async fn drive(
    duration: Duration,
    rounds: u64,
    pace: u64,
    only: Option<&str>,
    mode_only: Option<&str>,
) -> String {
    let pinned = pin_self_to_cpu(1);
    // APM Server on this host (127.0.0.1: bodies go uncompressed, as the spec asks) and
    // one that stands for a remote one (127.0.0.2: gzip, as to any other host).
    let sink = IntakeReceiver::start_counting().await;
    let remote_sink = IntakeReceiver::start_counting_on(([127, 0, 0, 2], 0).into()).await;
    let downstream = downstream().await;
    // A port nothing listens on: APM Server is down.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        format!("http://{}", listener.local_addr().expect("an address"))
    };
    let modes: Vec<Mode> = [Mode::Saturated, Mode::Paced(pace)]
        .into_iter()
        .filter(|m| match mode_only {
            Some("paced") => matches!(m, Mode::Paced(_)),
            Some("saturated") => *m == Mode::Saturated,
            _ => true,
        })
        .collect();
    // A variant and the baseline it is compared with.
    let baseline_of_only = only.and_then(|o| {
        VARIANTS
            .iter()
            .find(|(v, _, _)| *v == o)
            .map(|(_, _, b)| *b)
    });
    let variants: Vec<_> = VARIANTS
        .iter()
        .filter(|(v, _, _)| only.is_none_or(|o| o == *v || baseline_of_only == Some(*v)))
        .collect();
    let mut runs: Vec<(Mode, &str, Run)> = Vec::new();
    // Each round's ratio to its baseline, measured minutes apart at most: paired, so
    // that the machine's drift between rounds (VM neighbours, ±15 %) cancels out.
    let mut ratios: Vec<(Mode, &str, f64)> = Vec::new();
    // Each variant runs between two runs of its baseline and is compared with the two
    // interpolated to its place (a machine drifting within a round biases no variant
    // for coming later), and the variants take turns in their order, one place further
    // each round. Grouped (baseline, three variants, baseline), saturated ApmLayer
    // measured 1.52x where paired on its own it measured 1.32x.
    let order = |round: u64| -> Vec<&str> {
        let mut order = Vec::new();
        for (baseline, _, _) in variants.iter().filter(|(v, _, b)| v == b) {
            order.push(*baseline);
            let mut group: Vec<&str> = variants
                .iter()
                .filter(|(v, _, b)| b == baseline && v != baseline)
                .map(|(v, _, _)| *v)
                .collect();
            if !group.is_empty() {
                let turn = (round % group.len() as u64) as usize;
                group.rotate_left(turn);
            }
            for variant in group {
                order.push(variant);
                order.push(*baseline);
            }
        }
        order
    };
    for round in 0..rounds {
        for &mode in &modes {
            let mut this_round: Vec<(&str, f64)> = Vec::new();
            for variant in order(round) {
                let (sink, sink_url) = match variant {
                    "apm-down" => (&sink, down.clone()),
                    "apm-gzip" => (&remote_sink, remote_sink.url()),
                    _ => (&sink, sink.url()),
                };
                let run = measure(variant, mode, sink, &sink_url, &downstream, duration).await;
                eprintln!(
                    "round {round} {mode:?} {variant}: {:.0} req/s, {:.1} µs CPU/request ({:.1} in the reporter), {:.2} context switches/request",
                    run.requests as f64 / run.seconds,
                    run.cpu_us_per_request,
                    run.reporter_us_per_request,
                    run.switches_per_request
                );
                this_round.push((variant, run.cpu_us_per_request));
                runs.push((mode, variant, run));
            }
            for (variant, _, baseline) in &variants {
                if variant == baseline {
                    ratios.push((mode, variant, 1.0));
                    continue;
                }
                let at = |name: &str| -> Vec<(f64, f64)> {
                    this_round
                        .iter()
                        .enumerate()
                        .filter(|(_, (v, _))| *v == name)
                        .map(|(i, (_, cpu))| (i as f64, *cpu))
                        .collect()
                };
                let (Some(&(place, own)), base) = (at(variant).first(), at(baseline)) else {
                    continue;
                };
                // The baseline runs just before and just after the variant.
                let before = base.iter().rev().find(|(p, _)| *p < place);
                let after = base.iter().find(|(p, _)| *p > place);
                let base = match (before, after) {
                    (Some((p0, b0)), Some((p1, b1))) => b0 + (b1 - b0) * (place - p0) / (p1 - p0),
                    (Some((_, only)), None) | (None, Some((_, only))) => *only,
                    (None, None) => continue,
                };
                ratios.push((mode, variant, own / base));
            }
        }
    }

    let mut out = String::new();
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let _ = writeln!(
        out,
        "# Overhead\n\nRegenerate with `cargo run --release -p examples --bin overhead -- --write docs/overhead.md`.\n\n\
         {} CPU(s), {cpu_model}; {CONNECTIONS} keep-alive connections; {}s per run after 1 s of warm-up; \
         {rounds} rounds, each variant between two runs of its baseline (the variants' order turned by one each round); medians, and \"vs bare\" is the median of each round's ratio \
         to the baseline interpolated to the variant's place in the round{}. Server CPU per request (the scheduler's account of the server's threads) includes the \
         reporter thread's work, measured until 1.5 s after the load stops. \"Events exported\" \
         is transactions received by the counting intake sink per request served.",
        std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count(),
        duration.as_secs(),
        if pinned {
            "; server on CPU 0 with one tokio worker, load on CPU 1"
        } else {
            " (taskset not found: not pinned)"
        }
    );
    for &mode in &modes {
        let _ = writeln!(
            out,
            "\n## {}\n",
            match mode {
                Mode::Saturated => "Saturated".to_owned(),
                Mode::Paced(rate) => format!("Paced at {rate} requests/s"),
            }
        );
        let _ = writeln!(
            out,
            "| variant | req/s | server CPU µs/request | of which reporter | vs bare | p99 latency | peak RSS | events exported |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|"
        );
        let median = |variant: &str, f: &dyn Fn(&Run) -> f64| {
            let mut values: Vec<f64> = runs
                .iter()
                .filter(|(m, v, _)| *m == mode && *v == variant)
                .map(|(_, _, r)| f(r))
                .collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        for (variant, label, _) in &variants {
            let cpu = median(variant, &|r| r.cpu_us_per_request);
            let exported = runs
                .iter()
                .filter(|(m, v, _)| *m == mode && v == variant)
                .filter_map(|(_, _, r)| r.exported)
                .fold(None, |acc: Option<f64>, e| {
                    Some(acc.map_or(e, |a| a.min(e)))
                });
            let _ = writeln!(
                out,
                "| {label} | {:.0} | {:.1} | {:.1} | {:.2} × | {:.0} µs | {:.1} MiB | {} |",
                median(variant, &|r| r.requests as f64 / r.seconds),
                cpu,
                median(variant, &|r| r.reporter_us_per_request),
                {
                    let mut own: Vec<f64> = ratios
                        .iter()
                        .filter(|(m, v, _)| *m == mode && v == variant)
                        .map(|(_, _, r)| *r)
                        .collect();
                    own.sort_by(f64::total_cmp);
                    own.get(own.len() / 2).copied().unwrap_or(f64::NAN)
                },
                median(variant, &|r| r.p99_us as f64),
                median(variant, &|r| r.peak_rss_kib as f64) / 1024.0,
                exported.map_or("–".to_owned(), |e| format!("{:.2} %", e * 100.0)),
            );
        }
    }
    out
}

/// The downstream service the realistic handler calls: `GET /stock/{id}`.
async fn downstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let app = Router::new().route(
        "/stock/{id}",
        get(|Path(id): Path<u32>| async move { (id % 17).to_string() }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn measure(
    variant: &str,
    mode: Mode,
    sink: &IntakeReceiver,
    sink_url: &str,
    downstream: &str,
    duration: Duration,
) -> Run {
    let exe = std::env::current_exe().expect("this binary");
    let mut command = if which("taskset") {
        let mut c = Command::new("taskset");
        c.arg("-c").arg("0").arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    command.args(["serve", variant, sink_url, downstream]);
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

    let (warm_up, _) = load(port, mode, Duration::from_secs(1)).await;
    let cpu_before = cpu_ns(pid, None);
    let reporter_before = cpu_ns(pid, Some(REPORTER_THREAD));
    let switches_before = context_switches(pid);
    let (requests, mut latencies) = load(port, mode, duration).await;
    // The reporter's work after the load counts too.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cpu = cpu_ns(pid, None).saturating_sub(cpu_before);
    let reporter = cpu_ns(pid, Some(REPORTER_THREAD)).saturating_sub(reporter_before);
    let switches = context_switches(pid).saturating_sub(switches_before);
    let peak_rss_kib = peak_rss_kib(pid);
    let _ = child.kill().await;

    latencies.sort_unstable();
    let p99_us = latencies
        .get(latencies.len() * 99 / 100)
        .copied()
        .unwrap_or(0);
    let exported = (variant.contains("apm") && variant != "apm-down").then(|| {
        let received = sink.counts().get("transaction").copied().unwrap_or(0) - before_counts;
        received as f64 / (warm_up + requests) as f64
    });
    Run {
        requests,
        seconds: duration.as_secs_f64(),
        cpu_us_per_request: cpu as f64 / 1e3 / requests as f64,
        reporter_us_per_request: reporter as f64 / 1e3 / requests as f64,
        p99_us,
        peak_rss_kib,
        exported,
        switches_per_request: switches as f64 / requests as f64,
    }
}

/// Voluntary and involuntary context switches of every thread of `pid`.
fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// `CONNECTIONS` keep-alive connections sending `GET /products/{n}` for `duration`, as
/// fast as answers come or at the paced rate.
async fn load(port: u16, mode: Mode, duration: Duration) -> (u64, Vec<u64>) {
    let deadline = Instant::now() + duration;
    let period = match mode {
        Mode::Saturated => None,
        Mode::Paced(rate) => Some(Duration::from_secs_f64(
            CONNECTIONS as f64 / rate.max(1) as f64,
        )),
    };
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
                let mut ticks = period.map(|p| {
                    // Connections start spread over one period, not all at once.
                    let start =
                        tokio::time::Instant::now() + p.mul_f64(c as f64 / CONNECTIONS as f64);
                    let mut ticks = tokio::time::interval_at(start, p);
                    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    ticks
                });
                let mut latencies = Vec::new();
                let mut n = c as u64;
                while Instant::now() < deadline {
                    if let Some(ticks) = &mut ticks {
                        ticks.tick().await;
                    }
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

/// Names of the agent's reporter thread(s) start with this.
const REPORTER_THREAD: &str = "elastic-apm";

/// CPU time, in nanoseconds, of `pid`'s threads, or of those whose name starts with
/// `named`: the scheduler's exact account in `/proc/<pid>/task/*/schedstat`. The
/// utime and stime of `/proc/<pid>/stat` are sampled in 10 ms ticks: a paced run of a
/// few seconds is a few dozen of them, too few to tell 5 % apart. Falls back to them
/// where the kernel keeps no schedstat.
fn cpu_ns(pid: u32, named: Option<&str>) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|task| {
            named.is_none_or(|prefix| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|name| name.starts_with(prefix))
            })
        })
        .map(|task| {
            let schedstat = std::fs::read_to_string(task.path().join("schedstat"));
            match schedstat
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
            {
                Some(ns) => ns,
                // USER_HZ is 100 on Linux.
                None => stat_ticks(&task.path().join("stat")) * 10_000_000,
            }
        })
        .sum()
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
