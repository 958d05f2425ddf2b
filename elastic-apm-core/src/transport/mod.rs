//! Delivery to APM Server (`transport.md`): a bounded queue on the request path, and a
//! background thread that streams gzip-compressed NDJSON to `/intake/v2/events`.
//!
//! The reporter thread runs its own single-threaded tokio runtime, so the transport
//! works the same under a multi-threaded runtime, a current-thread runtime (where a
//! task of ours would compete with the application's), or none at all, and compression
//! never takes a worker thread from the application. Handing an event over is one
//! push onto a bounded array queue (a compare-and-swap and a store): no lock, no
//! allocation, and when the queue is full the event is dropped and counted, never
//! waited for. The reporter is woken in batches, not per event (`doorbell.rs`).

mod body;
mod central_config;
mod client;
mod cloud;
mod doorbell;
mod encoder;
mod server_info;
mod spent;
mod worker;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use tokio::sync::{mpsc, oneshot};

pub use self::encoder::{EncodeError, IntakeEncoder, MAX_EVENT_SIZE};
use crate::error::TransportError;
use crate::live::Shared;
use crate::model::Event;
use crate::report::{EventKind, Flush, Health, HealthCounters, Reporter, kind_index, type_index};

/// The reporter that sends events to APM Server; the agent's default.
pub(crate) struct Transport {
    events: Arc<ArrayQueue<Event>>,
    doorbell: Arc<doorbell::Doorbell>,
    spent: Arc<spent::Spent>,
    commands: mpsc::UnboundedSender<Command>,
    health: Arc<HealthCounters>,
    stopped: AtomicBool,
}

/// A request to the worker, answered through `reply` by whichever comes first: the
/// worker finishing, or the deadline.
pub(crate) struct Command {
    kind: CommandKind,
    deadline: Instant,
    reply: Reply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CommandKind {
    Flush,
    Shutdown,
}

/// Answered once, by the worker or by the deadline timer.
#[derive(Clone)]
pub(crate) struct Reply(Arc<Mutex<Option<oneshot::Sender<bool>>>>);

impl Reply {
    fn new() -> (Self, oneshot::Receiver<bool>) {
        let (tx, rx) = oneshot::channel();
        (Reply(Arc::new(Mutex::new(Some(tx)))), rx)
    }

    pub(crate) fn answer(&self, delivered: bool) {
        let sender = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(sender) = sender {
            let _ = sender.send(delivered);
        }
    }
}

impl Transport {
    /// Starts the reporter thread.
    pub(crate) fn start(shared: Arc<Shared>) -> Result<Self, TransportError> {
        let config = shared.live.local();
        let client = client::HttpClient::new(config)?;
        // Zero is refused when the configuration is parsed or built, but the field is
        // public, and an array queue of none would panic.
        let events = Arc::new(ArrayQueue::new(config.max_queue_size.max(1)));
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let health = Arc::new(HealthCounters::default());
        let doorbell = Arc::new(doorbell::Doorbell::new(config.max_queue_size));
        let spent = Arc::new(spent::Spent::new());
        let worker = worker::Worker::new(
            client,
            shared,
            health.clone(),
            worker::Queue {
                events: events.clone(),
                doorbell: doorbell.clone(),
                spent: spent.clone(),
            },
            commands_rx,
        )?;
        std::thread::Builder::new()
            .name("elastic-apm-reporter".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(worker.run()),
                    Err(err) => {
                        crate::logging::error!(
                            "the APM reporter could not start its runtime: {err}"
                        )
                    }
                }
            })
            .map_err(|e| TransportError::Start(e.to_string()))?;
        Ok(Transport {
            events,
            doorbell,
            spent,
            commands: commands_tx,
            health,
            stopped: AtomicBool::new(false),
        })
    }

    fn command(&self, kind: CommandKind, timeout: Duration) -> Flush {
        let (reply, answer) = Reply::new();
        let command = Command {
            kind,
            // Duration::MAX means "no deadline": thirty years will do (tokio's far future).
            deadline: Instant::now() + timeout.min(Duration::from_secs(30 * 365 * 24 * 3600)),
            reply,
        };
        if self.commands.send(command).is_err() {
            // The worker is gone: nothing more can be delivered.
            return Box::pin(std::future::ready(false));
        }
        Box::pin(async move { answer.await.unwrap_or(false) })
    }
}

impl Reporter for Transport {
    fn report(&self, event: Event) {
        if self.stopped.load(Ordering::Relaxed) {
            self.health.refused(type_index(&event));
            return;
        }
        self.spent.drop_one();
        offer(&self.events, &self.doorbell, &self.health, event);
        if self.stopped.load(Ordering::SeqCst) {
            // Shut down meanwhile: the reporter may have taken the last of the queue
            // already, and this event would be neither sent nor counted. One comes out
            // again, whichever it is, and is counted lost.
            if let Some(lost) = self.events.pop() {
                self.health.refused(type_index(&lost));
            }
        }
    }

    fn health(&self) -> Health {
        self.health.read(self.events.len() as u64)
    }

    fn is_backlogged(&self) -> bool {
        self.events.is_full()
    }

    fn drop_if_backlogged(&self, kind: EventKind) -> bool {
        if !self.is_backlogged() {
            return false;
        }
        self.health.refused(kind_index(kind));
        true
    }

    fn flush(&self, timeout: Duration) -> Flush {
        self.command(CommandKind::Flush, timeout)
    }

    fn shutdown(&self, timeout: Duration) -> Flush {
        self.stopped.store(true, Ordering::SeqCst);
        self.command(CommandKind::Shutdown, timeout)
    }
}

/// Puts an event in the queue, counting it, and counting it dropped when the queue is
/// full. Never waits.
pub(crate) fn offer(
    events: &ArrayQueue<Event>,
    doorbell: &doorbell::Doorbell,
    health: &HealthCounters,
    event: Event,
) {
    match events.push(event) {
        // Counted by the reporter as it takes the event out.
        Ok(()) => doorbell.queued(events.len() as u64),
        Err(refused) => {
            health.refused(type_index(&refused));
            health.queue_grew_to(events.capacity() as u64);
        }
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        // The last handle to the agent is gone: the worker sends what is left.
        self.doorbell.close();
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("health", &self.health())
            .finish_non_exhaustive()
    }
}
