//! The reporter thread's loop: events in, one streaming intake request at a time out.

use std::collections::HashSet;
use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_queue::ArrayQueue;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::{Method, Uri};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::body::RequestBody;
use super::client::{Answer, HttpClient};
use super::doorbell::{BATCH_DELAY, Doorbell};
use super::encoder::{EncodeError, IntakeEncoder};
use super::spent::Spent;
use super::{Command, CommandKind};
use crate::error::TransportError;
use crate::live::Shared;
use crate::logging;
use crate::model::Event;
use crate::report::{HealthCounters, type_index};

/// Compressed bytes gathered before a chunk goes to the socket: fewer, larger writes.
const CHUNK_MIN: usize = 16 * 1024;
/// How long, at most, the last events of a dropped agent are given to reach the server.
const DROP_FLUSH: Duration = Duration::from_secs(5);

pub(super) struct Worker {
    client: HttpClient,
    shared: Arc<Shared>,
    health: Arc<HealthCounters>,
    events: Arc<ArrayQueue<Event>>,
    commands: mpsc::UnboundedReceiver<Command>,
    intake: Uri,
    /// When the open request was opened, for `agent.events.requests.duration`.
    opened_at: Option<Instant>,
    /// When metrics are next gathered (`None`: `metrics_interval` is zero).
    metrics_at: Option<Instant>,
    /// Rung by the application's threads when there are events to take.
    doorbell: Arc<Doorbell>,
    /// Where written events go, to be dropped on the application's threads.
    spent: Arc<Spent>,
    /// When the queue is next drained (`None`: nothing asked for yet).
    drain_at: Option<Instant>,
    request: Option<InFlight>,
    reconnects: u32,
    retry_at: Option<Instant>,
    logged: HashSet<String>,
}

/// The event queue as the worker sees it.
pub(super) struct Queue {
    pub(super) events: Arc<ArrayQueue<Event>>,
    pub(super) doorbell: Arc<Doorbell>,
    pub(super) spent: Arc<Spent>,
}

struct InFlight {
    encoder: IntakeEncoder,
    chunks: mpsc::Sender<Bytes>,
    answer: JoinHandle<Result<Answer, TransportError>>,
    close_at: Instant,
}

impl Worker {
    pub(super) fn new(
        client: HttpClient,
        shared: Arc<Shared>,
        health: Arc<HealthCounters>,
        Queue {
            events,
            doorbell,
            spent,
        }: Queue,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Result<Self, TransportError> {
        let intake = client.uri("/intake/v2/events")?;
        Ok(Worker {
            client,
            shared,
            health,
            events,
            commands,
            intake,
            opened_at: None,
            metrics_at: None,
            doorbell,
            spent,
            drain_at: None,
            request: None,
            reconnects: 0,
            retry_at: None,
            logged: HashSet::new(),
        })
    }

    pub(super) async fn run(mut self) {
        tokio::spawn(super::server_info::poll(
            self.client.clone(),
            self.shared.clone(),
        ));
        if self.shared.live.local().central_config {
            tokio::spawn(super::central_config::poll(
                self.client.clone(),
                self.shared.clone(),
            ));
        }
        self.commands = answer_by_deadline(std::mem::replace(
            &mut self.commands,
            mpsc::unbounded_channel().1,
        ));
        let metrics_interval = self.shared.live.local().metrics_interval;
        let metrics_interval = (!metrics_interval.is_zero()).then_some(metrics_interval);
        // An interval too long for the clock means never.
        let next_metrics =
            move || metrics_interval.and_then(|every| Instant::now().checked_add(every));
        self.metrics_at = next_metrics();
        // Intake requests wait for cloud metadata (metadata.md); events queue meanwhile.
        super::cloud::discover(&self.shared).await;

        loop {
            let close_at = self.request.as_ref().map(|r| r.close_at);
            let retry_at = self.retry_at;
            tokio::select! {
                biased;
                Some(command) = self.commands.recv() => {
                    let stop = command.kind == CommandKind::Shutdown;
                    if stop && metrics_interval.is_some() {
                        // The last interval's metrics go out with the rest (metrics.md),
                        // counting what is still queued.
                        self.write_queued().await;
                        self.gather_metrics().await;
                    }
                    // A flush whose caller was already answered (the deadline passed while
                    // the loop was busy) has nothing left to do.
                    if stop || Instant::now() < Instant::from_std(command.deadline) {
                        // Runs to the end even past the deadline, which the caller gets
                        // from the timer: every wait inside is bounded by server_timeout,
                        // and a request cut short would lose events uncounted.
                        let delivered = self.deliver_queued().await;
                        command.reply.answer(delivered);
                    }
                    if stop {
                        // Accepted by the queue after the drain above (the transport
                        // turns events away once it is stopped, and counts one that
                        // slipped in as it stopped).
                        self.count_queued_as_lost();
                        return;
                    }
                }
                answer = poll_fn(|cx| match self.request.as_mut() {
                    Some(request) => std::pin::Pin::new(&mut request.answer).poll(cx),
                    None => std::task::Poll::Pending,
                }), if self.request.is_some() => {
                    // The server answered (or the connection broke) before the body ended.
                    if let Some(request) = self.request.take() {
                        self.settle(request.encoder.events(), request.encoder.compressed_len(), flatten(answer));
                    }
                }
                _ = sleep_until(close_at), if close_at.is_some() => {
                    self.close_request().await;
                }
                _ = sleep_until(retry_at), if retry_at.is_some() => {
                    self.retry_at = None;
                    // What queued during the back-off goes out now.
                    self.drain_at = Some(Instant::now());
                }
                _ = sleep_until(self.metrics_at), if self.metrics_at.is_some() => {
                    self.metrics_at = next_metrics();
                    self.gather_metrics().await;
                }
                _ = self.doorbell.notify.notified(), if retry_at.is_none() => {
                    if self.doorbell.is_closed() {
                        // Every handle to the agent is gone: send what is left, briefly.
                        let last = async {
                            self.drain().await;
                            if metrics_interval.is_some() {
                                self.gather_metrics().await;
                            }
                            self.close_request().await;
                        };
                        let finished = tokio::time::timeout(DROP_FLUSH, last).await.is_ok();
                        // What the time did not allow.
                        if !finished {
                            self.abandon_request(TransportError::Timeout(DROP_FLUSH));
                        }
                        self.count_queued_as_lost();
                        return;
                    }
                    let urgent = self.events.len() as u64 >= self.doorbell.urgent_at;
                    if urgent {
                        self.drain().await;
                    } else if self.drain_at.is_none() {
                        // The first event since the queue went idle: let others join it.
                        self.drain_at = Some(Instant::now() + BATCH_DELAY);
                    }
                }
                _ = sleep_until(self.drain_at), if self.drain_at.is_some() && retry_at.is_none() => {
                    self.drain().await;
                }
            }
        }
    }

    /// Writes the events queued now into the intake request, until a failed request
    /// calls for a back-off. Events queued meanwhile are left for the next turn of the
    /// loop, so that commands, timers and answers are never starved by a busy queue.
    ///
    /// While events keep coming, the next drain is scheduled here, [`BATCH_DELAY`]
    /// on, and the application's threads are not asked to ring: under steady load the
    /// reporter wakes once per batch, on its own timer. A drain that finds the queue
    /// empty goes idle, and the next event rings again.
    async fn drain(&mut self) {
        self.drain_at = None;
        if self.events.is_empty() {
            self.doorbell.going_idle();
            // An event that came in before the doorbell was idle again did not ring.
            if self.events.is_empty() {
                return;
            }
        }
        for _ in 0..self.events.len().max(1) {
            if self.retry_at.is_some() {
                return;
            }
            let Some(event) = self.events.pop() else {
                break;
            };
            self.write(event).await;
        }
        let wait = if self.events.is_empty() {
            BATCH_DELAY
        } else {
            Duration::ZERO
        };
        self.drain_at = Some(Instant::now() + wait);
    }

    /// Gathers every metric. The metricsets are queued like any other event (while APM
    /// Server is unreachable they wait, or are dropped and counted, with the rest), or
    /// written straight away once the queue is gone (the agent was dropped).
    async fn gather_metrics(&mut self) {
        let config = self.shared.live.local();
        let capacity = self.events.capacity() as f64;
        let (min, max) = self.health.take_queue_range(self.events.len() as u64);
        let usage = crate::metrics::QueueUsage {
            min: min as f64 / capacity,
            max: max as f64 / capacity,
        };
        let sets = self.shared.metrics.collect(
            config,
            self.health.read(self.events.len() as u64),
            Some(usage),
        );
        // Once the agent is gone, straight into the request: the queue is drained for good.
        let queued = !self.doorbell.is_closed();
        for set in sets {
            let event = Event::Metricset(Box::new(set));
            if queued {
                super::offer(&self.events, &self.doorbell, &self.health, event);
            } else {
                self.write(event).await;
            }
        }
    }

    /// Writes every queued event into the intake request, ignoring any back-off.
    async fn write_queued(&mut self) {
        while let Some(event) = self.events.pop() {
            self.write(event).await;
        }
    }

    /// Takes what is left in the queue, never to be sent: lost, but counted.
    fn count_queued_as_lost(&mut self) {
        while let Some(event) = self.events.pop() {
            self.health
                .dequeued(type_index(&event), self.events.len() as u64);
            HealthCounters::add(&self.health.dropped_error, 1);
        }
    }

    /// Sends everything queued now, ignoring any back-off (flush and shutdown).
    async fn deliver_queued(&mut self) -> bool {
        let failures = self
            .health
            .failed_requests
            .load(std::sync::atomic::Ordering::Relaxed);
        self.write_queued().await;
        self.close_request().await;
        failures
            == self
                .health
                .failed_requests
                .load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn write(&mut self, mut event: Event) {
        // Counted here, whether it came out of the queue or not (metrics after the end).
        self.health
            .dequeued(type_index(&event), self.events.len() as u64);
        if self.shared.breakdown {
            self.shared.metrics.breakdown.observe(&event);
        }
        event.prepare_stacks();
        if self.request.is_none() {
            self.open_request();
        }
        let Some(request) = self.request.as_mut() else {
            HealthCounters::add(&self.health.dropped_error, 1);
            return;
        };
        match request.encoder.push(&event) {
            Ok(()) => {}
            Err(EncodeError::TooLarge(size)) => {
                HealthCounters::add(&self.health.dropped_too_large, 1);
                self.log_once(
                    "too large",
                    format_args!(
                        "dropping a {} event of {size} bytes: larger than APM Server accepts",
                        event.kind()
                    ),
                );
            }
            Err(err) => {
                HealthCounters::add(&self.health.dropped_error, 1);
                self.log_once("encode", format_args!("dropping an event: {err}"));
            }
        }
        self.spent.give_back(event);
        let request = self.request.as_mut();
        if let Some(chunk) = request.and_then(|r| r.encoder.take_output(CHUNK_MIN)) {
            self.send_chunk(chunk).await;
        }
        let api_request_size = self.shared.live.local().api_request_size;
        if self
            .request
            .as_ref()
            .is_some_and(|r| r.encoder.compressed_len() >= api_request_size)
        {
            self.close_request().await;
        }
    }

    fn open_request(&mut self) {
        let metadata = self.shared.metadata();
        let encoder = if is_this_host(&self.intake) {
            IntakeEncoder::uncompressed(&metadata)
        } else {
            IntakeEncoder::new(&metadata)
        };
        let encoder = match encoder {
            Ok(encoder) => encoder,
            Err(err) => {
                self.log_once("metadata", format_args!("cannot encode metadata: {err}"));
                return;
            }
        };
        let (chunks, body) = mpsc::channel(4);
        let mut request = self
            .client
            .request(Method::POST, self.intake.clone())
            .header(CONTENT_TYPE, "application/x-ndjson");
        if encoder.is_compressed() {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let request = request.body(RequestBody::streaming(body));
        let request = match request {
            Ok(request) => request,
            Err(err) => {
                self.log_once(
                    "request",
                    format_args!("cannot build the intake request: {err}"),
                );
                return;
            }
        };
        let config = self.shared.live.local();
        // The body streams for up to api_request_time; the answer may take server_timeout.
        let limit = config.api_request_time + config.server_timeout;
        let client = self.client.clone();
        self.opened_at = Some(Instant::now());
        self.request = Some(InFlight {
            encoder,
            chunks,
            answer: tokio::spawn(async move { client.send(request, limit).await }),
            close_at: Instant::now() + config.api_request_time,
        });
    }

    async fn send_chunk(&mut self, chunk: Bytes) {
        let timeout = self.shared.live.local().server_timeout;
        let Some(request) = self.request.as_mut() else {
            return;
        };
        match tokio::time::timeout(timeout, request.chunks.send(chunk)).await {
            Ok(Ok(())) => {}
            // The body was dropped: hyper gave up on the request, and its answer says why.
            Ok(Err(_)) => self.await_answer().await,
            Err(_) => self.abandon_request(TransportError::Timeout(timeout)),
        }
    }

    /// Ends the body and waits for the server's answer.
    async fn close_request(&mut self) {
        let timeout = self.shared.live.local().server_timeout;
        let Some(InFlight {
            encoder,
            chunks,
            mut answer,
            ..
        }) = self.request.take()
        else {
            return;
        };
        let events = encoder.events();
        let (rest, compressed) = match encoder.finish() {
            Ok(finished) => finished,
            Err(err) => {
                answer.abort();
                let err = TransportError::Connection(format!("cannot finish the body: {err}"));
                self.settle(events, 0, Err(err));
                return;
            }
        };
        // A send error means hyper stopped reading; the answer tells why.
        if !rest.is_empty()
            && tokio::time::timeout(timeout, chunks.send(rest))
                .await
                .is_err()
        {
            answer.abort();
            self.settle(events, compressed, Err(TransportError::Timeout(timeout)));
            return;
        }
        drop(chunks);
        let result = match tokio::time::timeout(timeout, &mut answer).await {
            Ok(joined) => flatten(joined),
            Err(_) => {
                answer.abort();
                Err(TransportError::Timeout(timeout))
            }
        };
        self.settle(events, compressed, result);
    }

    /// The body channel closed early: collect the answer that explains it.
    async fn await_answer(&mut self) {
        let timeout = self.shared.live.local().server_timeout;
        let Some(mut request) = self.request.take() else {
            return;
        };
        let result = match tokio::time::timeout(timeout, &mut request.answer).await {
            Ok(joined) => flatten(joined),
            Err(_) => {
                request.answer.abort();
                Err(TransportError::Timeout(timeout))
            }
        };
        self.settle(
            request.encoder.events(),
            request.encoder.compressed_len(),
            result,
        );
    }

    fn abandon_request(&mut self, why: TransportError) {
        if let Some(request) = self.request.take() {
            request.answer.abort();
            self.settle(
                request.encoder.events(),
                request.encoder.compressed_len(),
                Err(why),
            );
        }
    }

    /// Counts the outcome of a finished request and schedules the back-off after a failure.
    fn settle(&mut self, events: u64, compressed: u64, result: Result<Answer, TransportError>) {
        let health = self.health.clone();
        HealthCounters::add(&health.requests, 1);
        HealthCounters::add(&health.bytes_sent, compressed);
        let took = self
            .opened_at
            .take()
            .map_or(0, |at| crate::tracer::micros(at.elapsed()));
        HealthCounters::add(&health.request_us, took);
        match result {
            Ok(answer) if answer.status.is_success() => {
                HealthCounters::add(&health.events_sent, events);
                self.reconnects = 0;
                return;
            }
            Ok(answer) => {
                let rejection = Rejection::parse(&answer.body);
                let accepted = rejection.accepted.unwrap_or(0).min(events);
                HealthCounters::add(&health.events_sent, accepted);
                HealthCounters::add(&health.dropped_error, events - accepted);
                self.log_once(
                    &format!("HTTP {}", answer.status.as_u16()),
                    format_args!(
                        "APM Server answered {}; {} event(s) dropped{}",
                        answer.status,
                        events - accepted,
                        rejection.messages
                    ),
                );
            }
            Err(err) => {
                HealthCounters::add(&health.dropped_error, events);
                let kind = match &err {
                    TransportError::Timeout(_) => "timeout",
                    _ => "connection",
                };
                self.log_once(
                    kind,
                    format_args!("intake request failed, {events} event(s) dropped: {err}"),
                );
            }
        }
        HealthCounters::add(&health.failed_requests, 1);
        HealthCounters::add(&health.bytes_failed, compressed);
        HealthCounters::add(&health.failed_request_us, took);
        let delay = backoff(self.reconnects);
        self.reconnects = self.reconnects.saturating_add(1);
        self.retry_at = (!delay.is_zero()).then(|| Instant::now() + delay);
    }

    /// Logs a failure at warning level the first time its kind is seen, then at debug.
    fn log_once(&mut self, kind: &str, message: std::fmt::Arguments<'_>) {
        if self.logged.insert(kind.to_owned()) {
            logging::warning!("{message} (logged once; later ones at debug level)");
        } else {
            logging::debug!("{message}");
        }
    }
}

/// Passes commands on, and answers each with `false` at its deadline should the loop
/// be held up (say, by a server that stopped reading) until then.
fn answer_by_deadline(
    mut commands: mpsc::UnboundedReceiver<Command>,
) -> mpsc::UnboundedReceiver<Command> {
    let (forward, forwarded) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(command) = commands.recv().await {
            let reply = command.reply.clone();
            let deadline = command.deadline;
            tokio::spawn(async move {
                tokio::time::sleep_until(deadline.into()).await;
                reply.answer(false);
            });
            if forward.send(command).is_err() {
                return;
            }
        }
    });
    forwarded
}

/// The spec's grace period: `min(reconnects, 6)² s ± 10 %`.
pub(super) fn backoff(reconnects: u32) -> Duration {
    let base = f64::from(reconnects.min(6).pow(2));
    let jitter = 1.0 + (fastrand::f64() * 0.2 - 0.1);
    Duration::from_secs_f64(base * jitter)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn flatten(
    joined: Result<Result<Answer, TransportError>, tokio::task::JoinError>,
) -> Result<Answer, TransportError> {
    joined.unwrap_or_else(|e| Err(TransportError::Connection(e.to_string())))
}

/// What APM Server says about a rejected request: `{"accepted": n, "errors": [...]}`.
#[derive(Default)]
struct Rejection {
    accepted: Option<u64>,
    /// `: message; message` for the log line, short.
    messages: String,
}

impl Rejection {
    fn parse(body: &[u8]) -> Self {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Rejection::default();
        };
        let mut messages = String::new();
        let errors = value.get("errors").and_then(|e| e.as_array());
        for error in errors.into_iter().flatten().take(5) {
            let message = error
                .get("message")
                .and_then(|m| m.as_str())
                .or_else(|| error.as_str());
            if let Some(message) = message {
                messages.push_str(if messages.is_empty() { ": " } else { "; " });
                messages.push_str(&crate::model::limits::truncate(message, 300));
            }
        }
        if messages.is_empty()
            && let Some(error) = value.get("error").and_then(|e| e.as_str())
        {
            messages = format!(": {}", crate::model::limits::truncate(error, 300));
        }
        Rejection {
            accepted: value.get("accepted").and_then(|a| a.as_u64()),
            messages,
        }
    }
}

/// Whether the URL names this host the way the spec lists (`localhost`, `127.0.0.1`,
/// `::1`): intake bodies to it go uncompressed (transport.md, "Compression").
fn is_this_host(url: &Uri) -> bool {
    let host = url.host().unwrap_or_default();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| {
            ip == std::net::IpAddr::from([127, 0, 0, 1]) || ip == std::net::Ipv6Addr::LOCALHOST
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_the_spec() {
        assert_eq!(backoff(0), Duration::ZERO);
        for (n, secs) in [(1, 1.0), (2, 4.0), (3, 9.0), (6, 36.0), (60, 36.0)] {
            let d = backoff(n).as_secs_f64();
            assert!(d >= secs * 0.9 && d <= secs * 1.1, "{n}: {d}");
        }
    }

    #[test]
    fn bodies_to_this_host_go_uncompressed() {
        for url in [
            "http://localhost:8200",
            "http://LOCALHOST",
            "http://127.0.0.1:8200",
            "https://[::1]:8200",
            "http://[0:0:0:0:0:0:0:1]:8200",
        ] {
            assert!(is_this_host(&url.parse().unwrap()), "{url}");
        }
        for url in [
            "http://apm.example.com:8200",
            "http://127.0.0.2:8200",
            "http://10.0.0.1",
            "http://localhost.example.com",
        ] {
            assert!(!is_this_host(&url.parse().unwrap()), "{url}");
        }
    }

    #[test]
    fn rejections_are_summarised() {
        let r = Rejection::parse(
            br#"{"accepted": 3, "errors": [{"message": "bad span", "document": "{}"}]}"#,
        );
        assert_eq!(r.accepted, Some(3));
        assert_eq!(r.messages, ": bad span");
        let r = Rejection::parse(br#"{"error": "unauthorized"}"#);
        assert_eq!(r.messages, ": unauthorized");
        assert_eq!(Rejection::parse(b"<html>").accepted, None);
    }
}
