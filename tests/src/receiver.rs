//! A stand-in APM Server on loopback: intake, server information and central config.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::spec::Schemas;

/// How the receiver answers intake requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Read everything and answer `202 Accepted` (APM Server's answer).
    #[default]
    None,
    /// Read everything and answer this status with an APM Server style error body.
    Status(u16),
    /// Never read the body and never answer.
    Hang,
    /// Read the start of the body, then drop the connection without an answer.
    Reset,
    /// Read everything, then wait this long before answering 202.
    Slow(Duration),
}

/// One intake request as received.
#[derive(Debug, Clone)]
pub struct IntakeRequest {
    /// Its headers.
    pub headers: HeaderMap,
    /// Body bytes on the wire (compressed, when it was).
    pub wire_bytes: usize,
    /// Every line, decoded: the metadata line first.
    pub lines: Vec<Value>,
    /// The status answered.
    pub status: u16,
    /// When its body had been read.
    pub received_at: std::time::Instant,
}

impl IntakeRequest {
    /// The `Content-Encoding` header.
    pub fn content_encoding(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
    }

    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One poll of `/config/v1/agents`.
#[derive(Debug, Clone)]
pub struct ConfigPoll {
    /// The query string.
    pub query: String,
    /// The `If-None-Match` header, if sent.
    pub if_none_match: Option<String>,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
struct State {
    fault: Fault,
    server_version: Option<String>,
    requests: Vec<IntakeRequest>,
    violations: Vec<String>,
    central: Option<(Value, u64)>,
    polls: Vec<ConfigPoll>,
    connections: usize,
    /// Counting mode: events per kind, nothing kept.
    counts: std::collections::BTreeMap<String, u64>,
}

struct Shared {
    state: Mutex<State>,
    changed: Notify,
    schemas: Option<Schemas>,
    /// False in counting mode: requests are decoded and counted, not kept or validated.
    keep: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let r = f(&mut self.lock());
        self.changed.notify_waiters();
        r
    }
}

/// A real HTTP server on `127.0.0.1` that APM agents can send to. It decodes
/// gzip/deflate NDJSON, validates every line against the intake v2 schemas of the spec
/// (see [`violations`](Self::violations)), keeps everything for assertions, answers
/// `GET /` and `/config/v1/agents`, and fails on request ([`Fault`]).
///
/// It runs on the tokio runtime it was started on, until dropped.
#[derive(Clone)]
pub struct IntakeReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _task: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for IntakeReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakeReceiver")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl IntakeReceiver {
    /// Starts on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound, or the spec's schemas do not load.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap_or(([127, 0, 0, 1], 0).into())).await
    }

    /// Starts on the given address (to come up where an agent already points).
    ///
    /// # Panics
    /// When the address cannot be bound, or the spec's schemas do not load.
    pub async fn start_on(addr: SocketAddr) -> Self {
        Self::start_with(addr, true).await
    }

    /// Starts a sink that only counts events per kind (see [`counts`](Self::counts)):
    /// no schema validation and nothing kept, for load tests.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start_counting() -> Self {
        Self::start_counting_on(([127, 0, 0, 1], 0).into()).await
    }

    /// [`start_counting`](Self::start_counting) on the given address.
    ///
    /// # Panics
    /// When the address cannot be bound.
    pub async fn start_counting_on(addr: SocketAddr) -> Self {
        Self::start_with(addr, false).await
    }

    /// Events received per kind, in counting mode.
    pub fn counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.shared.lock().counts.clone()
    }

    async fn start_with(addr: SocketAddr, keep: bool) -> Self {
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("binding {addr}: {e}"));
        let addr = listener.local_addr().unwrap_or(addr);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                server_version: Some("8.15.0".to_owned()),
                ..State::default()
            }),
            changed: Notify::new(),
            schemas: if keep { Schemas::load() } else { None },
            keep,
        });
        let accept = {
            let shared = shared.clone();
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    shared.update(|s| s.connections += 1);
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |request| handle(shared.clone(), request));
                        // Errors here are faults we injected or clients that went away.
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        };
        IntakeReceiver {
            addr,
            shared,
            _task: Arc::new(AbortOnDrop(tokio::spawn(accept))),
        }
    }

    /// An agent builder sending here: environment ignored, no cloud lookups, no central
    /// configuration polls (tests that want them turn them back on).
    pub fn agent_builder(&self) -> elastic_apm_core::AgentBuilder {
        elastic_apm_core::Agent::builder()
            .read_env(false)
            .server_url(self.url())
            .cloud_provider(elastic_apm_core::CloudProvider::None)
            .central_config(false)
    }

    /// `http://<address>:<port>`, for `server_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes how intake requests are answered from now on.
    pub fn set_fault(&self, fault: Fault) {
        self.shared.update(|s| s.fault = fault);
    }

    /// The version `GET /` reports (`None`: answer 404).
    pub fn set_server_version(&self, version: Option<&str>) {
        self.shared
            .update(|s| s.server_version = version.map(str::to_owned));
    }

    /// What `/config/v1/agents` serves (a JSON object of option names to strings),
    /// with `Cache-Control: max-age`. Each change gets a new `ETag`.
    pub fn set_central_config(&self, options: Value, max_age_secs: u64) {
        self.shared
            .update(|s| s.central = Some((options, max_age_secs)));
    }

    /// Every intake request received so far.
    pub fn requests(&self) -> Vec<IntakeRequest> {
        self.shared.lock().requests.clone()
    }

    /// Events (not metadata) of requests answered 2xx, as `(kind, body)`.
    pub fn accepted_events(&self) -> Vec<(String, Value)> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .flat_map(|r| r.lines.iter().skip(1))
            .filter_map(|line| {
                let (kind, body) = line.as_object()?.iter().next()?;
                Some((kind.clone(), body.clone()))
            })
            .collect()
    }

    /// Accepted events of one kind (`transaction`, `span`, `error`, `metricset`).
    pub fn accepted(&self, kind: &str) -> Vec<Value> {
        self.accepted_events()
            .into_iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, body)| body)
            .collect()
    }

    /// Schema violations and malformed requests seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// Whether the intake schemas were loaded (the spec was found).
    pub fn validates(&self) -> bool {
        self.shared.schemas.is_some()
    }

    /// Central configuration polls so far.
    pub fn config_polls(&self) -> Vec<ConfigPoll> {
        self.shared.lock().polls.clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// Waits until `condition` holds, re-checking whenever the receiver records
    /// something; `false` when `timeout` passes first.
    pub async fn wait_until(&self, timeout: Duration, condition: impl Fn(&Self) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if condition(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return condition(self);
            }
        }
    }
}

type Answer = Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>>;

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Answer {
    match (request.method(), request.uri().path()) {
        (&Method::POST, "/intake/v2/events") => intake(shared, request).await,
        (&Method::GET, "/") => {
            let version = shared.lock().server_version.clone();
            Ok(match version {
                Some(version) => json_response(
                    StatusCode::OK,
                    &json!({"build_date": "2024-01-01T00:00:00Z", "build_sha": "test", "publish_ready": true, "version": version}),
                ),
                None => empty(StatusCode::NOT_FOUND),
            })
        }
        (&Method::GET, "/config/v1/agents") => Ok(central_config(&shared, &request)),
        _ => Ok(empty(StatusCode::NOT_FOUND)),
    }
}

async fn intake(shared: Arc<Shared>, request: Request<Incoming>) -> Answer {
    let fault = shared.lock().fault;
    let (parts, mut body) = request.into_parts();
    match fault {
        Fault::Hang => std::future::pending::<()>().await,
        Fault::Reset => {
            // Take one frame so the client is mid-stream, then break the connection.
            let _ = body.frame().await;
            return Err("injected connection reset".into());
        }
        _ => {}
    }
    let wire = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(empty(StatusCode::BAD_REQUEST)),
    };
    let encoding = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !shared.keep {
        let text = decode(encoding, &wire).unwrap_or_default();
        shared.update(|s| {
            for line in text.lines() {
                // `{"transaction":{...` → transaction
                let kind = line
                    .get(2..)
                    .and_then(|l| l.split('"').next())
                    .unwrap_or("?");
                *s.counts.entry(kind.to_owned()).or_default() += 1;
            }
        });
        return Ok(empty(StatusCode::ACCEPTED));
    }
    let mut problems = Vec::new();
    let lines = match decode(encoding, &wire) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| match serde_json::from_str::<Value>(l) {
                Ok(v) => Some(v),
                Err(e) => {
                    problems.push(format!("not JSON ({e}): {l}"));
                    None
                }
            })
            .collect::<Vec<_>>(),
        Err(e) => {
            problems.push(format!("undecodable {encoding:?} body: {e}"));
            Vec::new()
        }
    };
    match lines.first() {
        Some(first) if first.get("metadata").is_some() => {}
        _ => problems.push("the first line is not metadata".to_owned()),
    }
    if let Some(schemas) = &shared.schemas {
        for line in &lines {
            problems.extend(schemas.violations(line));
        }
    }
    let status = match fault {
        Fault::Status(code) => code,
        _ => 202,
    };
    if let Fault::Slow(delay) = fault {
        tokio::time::sleep(delay).await;
    }
    let events = lines.len().saturating_sub(1);
    shared.update(|s| {
        s.violations.extend(problems);
        s.requests.push(IntakeRequest {
            headers: parts.headers.clone(),
            wire_bytes: wire.len(),
            lines,
            status,
            received_at: std::time::Instant::now(),
        });
    });
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Ok(if status.is_success() {
        empty(status)
    } else {
        json_response(
            status,
            &json!({"accepted": 0, "errors": [{"message": format!("injected failure for {events} events")}]}),
        )
    })
}

fn decode(encoding: &str, wire: &[u8]) -> std::io::Result<String> {
    let mut text = String::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(wire).read_to_string(&mut text)?,
        "deflate" => flate2::read::ZlibDecoder::new(wire).read_to_string(&mut text)?,
        _ => wire.as_ref().read_to_string(&mut text)?,
    };
    Ok(text)
}

fn central_config(shared: &Shared, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let if_none_match = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let central = shared.lock().central.clone();
    let (status, response) = match central {
        None => (StatusCode::NOT_FOUND, empty(StatusCode::NOT_FOUND)),
        Some((options, max_age)) => {
            let etag = format!("\"{:x}\"", fnv(options.to_string().as_bytes()));
            let mut response = if if_none_match.as_deref() == Some(etag.as_str()) {
                empty(StatusCode::NOT_MODIFIED)
            } else {
                json_response(StatusCode::OK, &options)
            };
            let headers = response.headers_mut();
            if let Ok(etag) = etag.parse() {
                headers.insert(header::ETAG, etag);
            }
            if let Ok(cache) = format!("max-age={max_age}").parse() {
                headers.insert(header::CACHE_CONTROL, cache);
            }
            (response.status(), response)
        }
    };
    let poll = ConfigPoll {
        query: request.uri().query().unwrap_or("").to_owned(),
        if_none_match,
        status: status.as_u16(),
    };
    shared.update(|s| s.polls.push(poll));
    response
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
