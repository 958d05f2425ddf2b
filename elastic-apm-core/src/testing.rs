//! An in-memory reporter for tests of instrumentation built on this crate
//! (feature `testing`): run code against a recording agent, then assert on the exact
//! events it produced, with no network.
//!
//! ```
//! use elastic_apm_core::testing::recording_agent;
//!
//! let (agent, recorder) = recording_agent(|b| b.service_name("test"));
//! let tx = agent.start_transaction("job", "scheduled");
//! tx.start_span("step", "app").end();
//! tx.end();
//! assert_eq!(recorder.transactions().len(), 1);
//! assert_eq!(recorder.spans()[0].name, "step");
//! ```

use std::sync::{Arc, Mutex, MutexGuard};

use crate::model::{self, Event, MetadataEvent};
use crate::report::Reporter;
use crate::tracer::{Agent, AgentBuilder};

/// Collects every reported event in memory. Clones share the same list.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
}

impl Reporter for Recorder {
    fn report(&self, event: Event) {
        // Stack symbolising waits until the events are read, as a real reporter defers
        // it to its background thread: recording costs what it costs in production.
        self.lock().push(event);
    }

    fn wants_breakdown_metrics(&self) -> bool {
        true
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Recorder::default()
    }

    /// The events, each [prepared](Event::prepare) (a no-op once done).
    fn lock(&self) -> MutexGuard<'_, Vec<Event>> {
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        events.iter_mut().for_each(Event::prepare);
        events
    }

    /// Every event so far, in the order reported.
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// Forgets the events so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Clones of the events `pick` selects, in order.
    fn collect<T: Clone>(&self, pick: impl Fn(&Event) -> Option<&T>) -> Vec<T> {
        self.lock().iter().filter_map(pick).cloned().collect()
    }

    /// The transactions so far.
    pub fn transactions(&self) -> Vec<model::Transaction> {
        self.collect(|e| {
            if let Event::Transaction(t) = e {
                Some(&**t)
            } else {
                None
            }
        })
    }

    /// The spans so far.
    pub fn spans(&self) -> Vec<model::Span> {
        self.collect(|e| {
            if let Event::Span(s) = e {
                Some(&**s)
            } else {
                None
            }
        })
    }

    /// The errors so far.
    pub fn errors(&self) -> Vec<model::Error> {
        self.collect(|e| {
            if let Event::Error(x) = e {
                Some(&**x)
            } else {
                None
            }
        })
    }

    /// The events as an intake v2 NDJSON body: the metadata line, then one line each.
    pub fn to_ndjson(&self, metadata: &model::Metadata) -> String {
        let mut out = String::new();
        let mut line = |v: Result<String, serde_json::Error>| {
            if let Ok(v) = v {
                out.push_str(&v);
                out.push('\n');
            }
        };
        line(serde_json::to_string(&MetadataEvent { metadata }));
        for event in self.lock().iter() {
            line(serde_json::to_string(event));
        }
        out
    }
}

/// An agent whose events go to a new [`Recorder`]. Environment variables are not read,
/// so tests do not depend on the machine; `configure` sets options.
pub fn recording_agent(configure: impl FnOnce(AgentBuilder) -> AgentBuilder) -> (Agent, Recorder) {
    let recorder = Recorder::new();
    let agent = configure(Agent::builder().read_env(false))
        .reporter(recorder.clone())
        .build();
    (agent, recorder)
}

/// Events with every field the model has set, for schema tests of the model and of
/// code that serialises it.
pub mod samples {
    use std::borrow::Cow;
    use std::time::Duration;

    use crate::ids::{ErrorId, SpanId, TraceId};
    use crate::model::*;

    fn labels() -> Labels {
        [
            ("str", LabelValue::from("v")),
            ("num", 1.5.into()),
            ("flag", true.into()),
            ("dotted.key", "x".into()),
        ]
        .into_iter()
        .collect()
    }

    fn headers() -> Headers {
        let mut h = Headers::new();
        h.append("Content-Type", "application/json");
        h.append("Accept", "a");
        h.append("Accept", "b");
        h
    }

    fn custom() -> CustomContext {
        let mut map = CustomContext::new();
        map.insert("nested".into(), serde_json::json!({"a": [1, 2, 3]}));
        map
    }

    fn frame(library: bool) -> StackFrame {
        StackFrame {
            filename: "src/main.rs".into(),
            abs_path: Some("/app/src/main.rs".into()),
            function: Some("shop::main".into()),
            module: Some("shop".into()),
            lineno: Some(10),
            colno: Some(5),
            library_frame: library,
        }
    }

    /// A context with request, response, user, labels, custom data, message and service.
    pub fn maximal_context() -> Context {
        let url = Url {
            full: Some("https://shop.example:8443/products?id=1#top".into()),
            raw: Some("/products?id=1#top".into()),
            protocol: Some("https".into()),
            hostname: Some("shop.example".into()),
            port: Some(8443),
            pathname: Some("/products".into()),
            search: Some("id=1".into()),
            hash: Some("top".into()),
        };
        let request = Request {
            method: "POST".into(),
            url,
            http_version: Some("1.1".into()),
            headers: Some(headers()),
            cookies: Some(
                [("session".to_owned(), "[REDACTED]".to_owned())]
                    .into_iter()
                    .collect(),
            ),
            socket: Some(Socket {
                remote_address: Some("127.0.0.1".into()),
                encrypted: Some(true),
            }),
            body: Some(serde_json::json!({"product_id": 1})),
        };
        let response = Response {
            status_code: Some(201),
            headers: Some(headers()),
            finished: Some(true),
            headers_sent: Some(true),
            transfer_size: Some(300),
            encoded_body_size: Some(200),
            decoded_body_size: Some(400),
        };
        let user = User {
            id: Some("42".into()),
            username: Some("bob".into()),
            email: Some("bob@example.com".into()),
            domain: Some("example".into()),
        };
        Context {
            request: Some(request),
            response: Some(response),
            user: Some(Box::new(user)),
            labels: labels(),
            custom: Some(custom()),
            message: Some(Box::new(message())),
            service: Some(Box::new(ServiceContext {
                name: Some("shop".into()),
                version: Some("1.0".into()),
                framework: Some(NameVersion::new("axum", Some("0.8".into()))),
                target: None,
            })),
        }
    }

    fn message() -> Message {
        Message {
            queue: Some(Queue {
                name: "orders".into(),
            }),
            age: Some(MessageAge { ms: 12 }),
            body: Some("body".into()),
            headers: Some(headers()),
            routing_key: Some("key".into()),
        }
    }

    /// A transaction with every field set.
    pub fn maximal_transaction() -> Transaction {
        Transaction {
            id: SpanId::generate(),
            trace_id: TraceId::generate(),
            parent_id: Some(SpanId::generate()),
            name: "POST /orders".into(),
            kind: "request".into(),
            timestamp: 1_700_000_000_000_000,
            duration: Duration::from_micros(12_345),
            result: Some("HTTP 2xx".into()),
            outcome: Some(Outcome::Success),
            sampled: true,
            sample_rate: Some(0.5),
            span_count: SpanCount {
                started: 3,
                dropped: 1,
            },
            context: Some(Box::new(maximal_context())),
            dropped_spans_stats: vec![DroppedSpanStats {
                destination_service_resource: Some("postgresql".into()),
                service_target_type: Some("postgresql".into()),
                service_target_name: Some("shop".into()),
                outcome: Outcome::Success,
                duration: DroppedSpanDuration {
                    count: 2,
                    sum: DurationSumUs { us: 1500 },
                },
            }],
            links: vec![Link {
                trace_id: TraceId::generate(),
                span_id: SpanId::generate(),
            }],
            otel: Some(OtelInfo {
                span_kind: Some(Cow::Borrowed("SERVER")),
                attributes: Some(custom()),
            }),
            http: None,
            unsent_spans: Vec::new(),
        }
    }

    /// A span with every field set.
    pub fn maximal_span() -> Span {
        let db = Db {
            instance: Some("shop".into()),
            statement: Some("SELECT * FROM products WHERE id = $1".into()),
            kind: Some("sql".into()),
            user: Some("app".into()),
            link: Some("link".into()),
            rows_affected: Some(1),
        };
        let http = SpanHttp {
            method: Some("GET".into()),
            url: Some("http://stock:3000/stock/1".into()),
            response: Some(SpanHttpResponse {
                status_code: Some(200),
                headers: Some(headers()),
                transfer_size: Some(10),
                encoded_body_size: Some(10),
                decoded_body_size: Some(10),
            }),
        };
        let destination = Destination {
            address: Some("localhost".into()),
            port: Some(5432),
            service: Some(DestinationService {
                resource: "postgresql/shop".into(),
                name: Some(String::new()),
                kind: Some(String::new()),
            }),
        };
        let context = SpanContext {
            db: Some(db),
            http: Some(http),
            destination: Some(destination),
            service: Some(ServiceContext {
                target: Some(ServiceTarget::new("postgresql", Some("shop".into()))),
                ..ServiceContext::default()
            }),
            message: Some(message()),
            labels: labels(),
        };
        Span {
            id: SpanId::generate(),
            trace_id: TraceId::generate(),
            transaction_id: SpanId::generate(),
            parent_id: SpanId::generate(),
            name: "SELECT FROM products".into(),
            kind: "db".into(),
            subtype: Some("postgresql".into()),
            action: Some("query".into()),
            timestamp: 1_700_000_000_000_100,
            duration: Duration::from_micros(1_234),
            sync: Some(true),
            outcome: Some(Outcome::Failure),
            sample_rate: Some(1.0),
            context: Some(Box::new(context)),
            stacktrace: vec![frame(false), frame(true)],
            composite: Some(Composite {
                compression_strategy: CompressionStrategy::ExactMatch,
                count: 3,
                sum: Duration::from_micros(3_000),
            }),
            links: vec![Link {
                trace_id: TraceId::generate(),
                span_id: SpanId::generate(),
            }],
            pending_stack: None,
            otel: Some(OtelInfo {
                span_kind: Some(Cow::Borrowed("CLIENT")),
                attributes: Some(custom()),
            }),
        }
    }

    /// An error with every field set, exception and log.
    pub fn maximal_error() -> Error {
        let cause = Exception {
            message: Some("connection refused".into()),
            ..Exception::default()
        };
        Error {
            id: ErrorId::generate(),
            timestamp: 1_700_000_000_000_200,
            trace_id: Some(TraceId::generate()),
            transaction_id: Some(SpanId::generate()),
            parent_id: Some(SpanId::generate()),
            transaction: Some(ErrorTransaction {
                name: "POST /orders".into(),
                kind: "request".into(),
                sampled: true,
            }),
            culprit: Some("shop::orders::create".into()),
            exception: Some(Exception {
                message: Some("could not place order".into()),
                kind: Some("shop::OrderError".into()),
                module: Some("shop".into()),
                code: Some("E42".into()),
                handled: Some(false),
                attributes: Some(custom()),
                stacktrace: vec![frame(false)],
                cause: vec![cause],
            }),
            log: Some(Log {
                message: "order failed".into(),
                level: Some("error".into()),
                logger_name: Some("shop::orders".into()),
                param_message: Some("order {} failed".into()),
                stacktrace: vec![frame(true)],
            }),
            context: Some(Box::new(maximal_context())),
            pending_stack: None,
        }
    }

    /// Metadata with service, process, system, container, Kubernetes, cloud and labels.
    pub fn maximal_metadata() -> Metadata {
        let agent = crate::Agent::builder()
            .read_env(false)
            .service_name("shop")
            .service_version("1.2.3")
            .service_node_name("node-1")
            .environment("production")
            .global_label(("team", "payments"))
            .build();
        let mut metadata = agent.metadata().clone();
        metadata.service.framework = Some(NameVersion::new("axum", Some("0.8.4".into())));
        metadata.service.agent.activation_method = Some("code".into());
        if let Some(process) = metadata.process.as_mut() {
            process.argv = vec!["shop".into(), "--port".into(), "3000".into()];
        }
        if let Some(system) = metadata.system.as_mut() {
            system.configured_hostname = Some("configured-host".into());
            system.container = Some(Container {
                id: "abc123".into(),
            });
            system.kubernetes = Some(Kubernetes {
                namespace: Some("default".into()),
                node: Some(KubernetesName {
                    name: "node".into(),
                }),
                pod: Some(KubernetesPod {
                    name: Some("pod".into()),
                    uid: Some("uid".into()),
                }),
            });
        }
        metadata.cloud = Some(Cloud {
            region: Some("eu-west-1".into()),
            availability_zone: Some("eu-west-1a".into()),
            account: CloudIdName::new(Some("123456789012".into()), Some("shop".into())),
            instance: CloudIdName::new(Some("i-0abc".into()), Some("web-1".into())),
            machine: Some(CloudMachine::new("t3.medium")),
            project: CloudIdName::new(Some("proj".into()), Some("payments".into())),
            service: Some(CloudService::new("ec2")),
            ..Cloud::new("aws")
        });
        metadata
    }

    /// A breakdown metricset and a histogram sample.
    pub fn maximal_metricset() -> MetricSet {
        MetricSet {
            timestamp: 1_700_000_000_000_300,
            samples: [
                (
                    Cow::Borrowed("span.self_time.count"),
                    Sample::Value { value: 2.0 },
                ),
                (
                    Cow::Borrowed("span.self_time.sum.us"),
                    Sample::Value { value: 150.0 },
                ),
                (
                    Cow::Borrowed("transaction.duration.histogram"),
                    Sample::Histogram {
                        values: vec![1.0, 2.0],
                        counts: vec![3, 4],
                        kind: "histogram",
                    },
                ),
            ]
            .into_iter()
            .collect(),
            labels: labels(),
            transaction: Some(MetricTransaction {
                name: Some("GET /".into()),
                kind: Some("request".into()),
            }),
            span: Some(MetricSpan {
                kind: Some("db".into()),
                subtype: Some("postgresql".into()),
            }),
        }
    }
}
