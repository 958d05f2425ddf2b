//! What the transport logs: failures once per kind at warning level (with the server's
//! messages), repeats at debug level, and never a secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;
use std::time::Duration;

use elastic_apm_core::{Agent, CloudProvider, LogLevel};
use intake_receiver::{Fault, IntakeReceiver};

static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.target() == "elastic_apm" {
            RECORDS
                .lock()
                .unwrap()
                .push((record.level(), record.args().to_string()));
        }
    }

    fn flush(&self) {}
}

const SECRET: &str = "s3cr3t-v4lue";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_logged_once_per_kind_and_secrets_never() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let receiver = IntakeReceiver::start().await;
    receiver.set_fault(Fault::Status(503));
    let agent = Agent::builder()
        .read_env(false)
        .server_url(receiver.url())
        .secret_token(SECRET)
        .cloud_provider(CloudProvider::None)
        .central_config(false)
        .log_level(LogLevel::Debug)
        .build();
    for _ in 0..3 {
        agent.start_transaction("t", "request").end();
        assert!(!agent.flush(Duration::from_secs(5)).await);
    }
    // A token that cannot be a header value is reported by name only.
    let _bad = Agent::builder()
        .read_env(false)
        .server_url(receiver.url())
        .secret_token(format!("line\nbreak-{SECRET}"))
        .cloud_provider(CloudProvider::None)
        .build();

    let records = RECORDS.lock().unwrap().clone();
    let about_503: Vec<_> = records.iter().filter(|(_, m)| m.contains("503")).collect();
    assert_eq!(about_503.len(), 3, "{records:#?}");
    assert_eq!(about_503[0].0, log::Level::Warn);
    assert!(
        about_503[0].1.contains("injected failure for 1 events"),
        "the server's message: {}",
        about_503[0].1
    );
    assert!(
        about_503[1..]
            .iter()
            .all(|(level, _)| *level == log::Level::Debug)
    );
    assert!(
        records
            .iter()
            .any(|(l, m)| *l == log::Level::Error && m.contains("secret_token"))
    );
    for (_, message) in &records {
        assert!(
            !message.contains(SECRET),
            "a secret reached the log: {message}"
        );
    }
}
