//! `ApmPool` against real databases: SQLite (in memory and in a file) always, and the
//! PostgreSQL server `.ci/run` starts (`ELASTIC_APM_TEST_POSTGRES_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use elastic_apm_core::model::{self, Outcome};
use elastic_apm_core::testing::{Recorder, recording_agent};
use elastic_apm_core::{Agent, ApmFutureExt, Transaction};
use futures_util::TryStreamExt;

mod support;

/// The PostgreSQL URL, or `None` (said loudly) when there is none outside CI.
fn postgres_url() -> Option<String> {
    match std::env::var("ELASTIC_APM_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            let msg = "ELASTIC_APM_TEST_POSTGRES_URL is not set (.ci/run starts PostgreSQL and sets it); PostgreSQL NOT TESTED";
            assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{msg}");
            eprintln!("SKIPPED: {msg}");
            None
        }
    }
}

/// Serves `app` on loopback and returns the body of one `GET path`.
async fn get_once(app: axum::Router, path: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    response.text().await.unwrap()
}

fn recorded() -> (Agent, Recorder) {
    recording_agent(|b| b.service_name("sqlx-e2e"))
}

fn span_named<'a>(spans: &'a [model::Span], name: &str) -> &'a model::Span {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "no span {name:?} in {:#?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    })
}

fn db_context(span: &model::Span) -> serde_json::Value {
    serde_json::to_value(&span.context.as_ref().expect("context").db).unwrap()
}

/// The same suite for each database: every executor method, transactions, failures,
/// streaming, and queries outside any transaction.
macro_rules! suite {
    ($db:ty, $subtype:literal, $table:literal) => {
        use super::*;
        use elastic_apm_sqlx::ApmPool;

        pub(crate) async fn run(
            pool: ApmPool<$db>,
            recorder: &Recorder,
            agent: &Agent,
            instance: Option<&str>,
        ) {
            // Outside any transaction: runs, records nothing.
            sqlx::query(concat!("DROP TABLE IF EXISTS ", $table))
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query(concat!(
                "CREATE TABLE ",
                $table,
                " (id INTEGER PRIMARY KEY, name TEXT NOT NULL, stock INTEGER NOT NULL)"
            ))
            .execute(&pool)
            .await
            .unwrap();
            assert!(
                recorder.events().is_empty(),
                "nothing outside a transaction"
            );

            let tx: Transaction = agent.start_transaction("GET /products", "request");
            async {
                // execute, with rows affected; bound values stay out of the statement.
                let inserted = sqlx::query(concat!(
                    "INSERT INTO ",
                    $table,
                    " (id, name, stock) VALUES ($1, $2, $3), ($4, $5, $6)"
                ))
                .bind(1)
                .bind("secret-widget")
                .bind(5)
                .bind(2)
                .bind("gadget")
                .bind(0)
                .execute(&pool)
                .await
                .unwrap();
                assert_eq!(inserted.rows_affected(), 2);
                // fetch_all / query_as
                let rows: Vec<(i32, String)> =
                    sqlx::query_as(concat!("SELECT id, name FROM ", $table, " ORDER BY id"))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                assert_eq!(rows.len(), 2);
                // fetch_one / query_scalar
                let count: i64 = sqlx::query_scalar(concat!("SELECT COUNT(*) FROM ", $table))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                assert_eq!(count, 2);
                // fetch_optional
                let none: Option<(i32,)> =
                    sqlx::query_as(concat!("SELECT id FROM ", $table, " WHERE id = $1"))
                        .bind(99)
                        .fetch_optional(&pool)
                        .await
                        .unwrap();
                assert!(none.is_none());
                // streaming fetch: one span for the whole stream
                let mut stream =
                    sqlx::query(concat!("SELECT name FROM ", $table, " WHERE stock >= 0"))
                        .fetch(&pool);
                let mut streamed = 0;
                while stream.try_next().await.unwrap().is_some() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    streamed += 1;
                }
                drop(stream);
                assert_eq!(streamed, 2);
                // a failing statement
                let failed = sqlx::query("SELECT * FROM no_such_table")
                    .fetch_all(&pool)
                    .await;
                assert!(failed.is_err());
                // a transaction that commits, one that rolls back
                let mut db_tx = pool.begin().await.unwrap();
                sqlx::query(concat!(
                    "UPDATE ",
                    $table,
                    " SET stock = stock - 1 WHERE id = $1"
                ))
                .bind(1)
                .execute(&mut db_tx)
                .await
                .unwrap();
                db_tx.commit().await.unwrap();
                let mut db_tx = pool.begin().await.unwrap();
                sqlx::query(concat!("DELETE FROM ", $table, " WHERE id = $1"))
                    .bind(2)
                    .execute(&mut db_tx)
                    .await
                    .unwrap();
                db_tx.rollback().await.unwrap();
                // a connection from the pool
                let mut connection = pool.acquire().await.unwrap();
                let left: i64 = sqlx::query_scalar(concat!("SELECT SUM(stock) FROM ", $table))
                    .fetch_one(&mut connection)
                    .await
                    .unwrap();
                assert_eq!(left, 4, "the update committed, the delete rolled back");
            }
            .in_segment(tx.segment())
            .await;
            tx.end();

            let spans = recorder.spans();
            let transaction = &recorder.transactions()[0];
            assert!(
                spans
                    .iter()
                    .all(|s| s.transaction_id == transaction.id && s.kind == "db")
            );
            assert!(spans.iter().all(|s| s.subtype.as_deref() == Some($subtype)));
            assert!(spans.iter().all(|s| s.action.as_deref() == Some("query")));

            let insert = span_named(&spans, concat!("INSERT INTO ", $table));
            let db = db_context(insert);
            assert_eq!(db["type"], "sql");
            assert_eq!(db["rows_affected"], 2);
            let statement = db["statement"].as_str().unwrap();
            assert!(statement.starts_with("INSERT INTO ") && statement.contains("$1"));
            assert!(
                !statement.contains("secret-widget"),
                "bound values are never recorded"
            );
            if let Some(instance) = instance {
                assert_eq!(db["instance"], instance);
            }
            let context = serde_json::to_value(&insert.context).unwrap();
            assert_eq!(context["service"]["target"]["type"], $subtype);
            assert_eq!(context["service"]["target"]["name"].as_str(), instance);

            span_named(&spans, concat!("SELECT FROM ", $table));
            let failed = span_named(&spans, "SELECT FROM no_such_table");
            assert_eq!(failed.outcome, Some(Outcome::Failure));
            let errors = recorder.errors();
            assert_eq!(errors.len(), 1, "the failing statement's error");
            assert_eq!(errors[0].parent_id, Some(failed.id));

            let streamed = spans
                .iter()
                .filter(|s| s.name == concat!("SELECT FROM ", $table))
                .max_by_key(|s| s.duration)
                .unwrap();
            assert!(
                streamed.duration >= Duration::from_millis(35),
                "the stream's span covers it: {:?}",
                streamed.duration
            );

            for name in ["BEGIN", "COMMIT", "ROLLBACK"] {
                span_named(&spans, name);
            }
            span_named(&spans, concat!("UPDATE ", $table));
            span_named(&spans, concat!("DELETE FROM ", $table));
            assert!(
                spans
                    .iter()
                    .filter(|s| s.name != "SELECT FROM no_such_table")
                    .all(|s| s.outcome == Some(Outcome::Success))
            );
        }
    };
}

mod sqlite {
    suite!(sqlx::Sqlite, "sqlite", "products");
}

mod postgres {
    suite!(sqlx::Postgres, "postgresql", "apm_products");
}

#[tokio::test]
async fn sqlite_in_memory() {
    let (agent, recorder) = recorded();
    let pool = support::sqlite_in_memory(&agent).await;
    sqlite::run(pool, &recorder, &agent, None).await;
}

#[tokio::test]
async fn sqlite_file() {
    let (agent, recorder) = recorded();
    let dir = std::env::temp_dir().join(format!("elastic-apm-sqlx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("shop.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let pool = elastic_apm_sqlx::ApmPool::<sqlx::Sqlite>::connect(&url, &agent)
        .await
        .unwrap();
    sqlite::run(pool, &recorder, &agent, Some("shop.db")).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn postgresql() {
    let Some(url) = postgres_url() else { return };
    let (agent, recorder) = recorded();
    let pool = elastic_apm_sqlx::ApmPool::<sqlx::Postgres>::connect(&url, &agent)
        .await
        .unwrap();
    assert_eq!(pool.endpoint().address.as_deref(), Some("127.0.0.1"));
    postgres::run(pool, &recorder, &agent, Some("postgres")).await;
    let spans = recorder.spans();
    let context = serde_json::to_value(&spans[0].context).unwrap();
    assert_eq!(context["destination"]["address"], "127.0.0.1");
    assert_eq!(context["db"]["user"], "apm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_nest_under_the_handlers_transaction_and_validate() {
    use axum::Router;
    use axum::extract::State;
    use axum::routing::get;
    use elastic_apm_sqlx::ApmPool;
    use elastic_apm_tower::ApmLayer;

    let receiver = intake_receiver::IntakeReceiver::start().await;
    let agent = receiver.agent_builder().service_name("sqlx-e2e").build();
    let pool = support::sqlite_in_memory(&agent).await;
    sqlx::query("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    let app = Router::new()
        .route(
            "/products",
            get(|State(pool): State<ApmPool<sqlx::Sqlite>>| async move {
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("INSERT INTO products (name) VALUES ($1)")
                    .bind("x")
                    .execute(&mut tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM products")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                let _ = sqlx::query("SELEC oops").execute(&pool).await;
                names.len().to_string()
            }),
        )
        .with_state(pool)
        .layer(ApmLayer::new(&agent));
    let body = get_once(app, "/products").await;
    assert_eq!(body, "1");
    // 1 transaction, 5 spans (BEGIN, INSERT, COMMIT, SELECT, the failing one), 1 error.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while agent.health().events_total < 7 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(agent.flush(Duration::from_secs(10)).await);
    let transaction = &receiver.accepted("transaction")[0];
    let spans = receiver.accepted("span");
    assert_eq!(spans.len(), 5);
    assert!(
        spans.iter().all(
            |s| s["transaction_id"] == transaction["id"] && s["parent_id"] == transaction["id"]
        )
    );
    assert_eq!(receiver.accepted("error").len(), 1);
    assert!(
        receiver.violations().is_empty(),
        "{:#?}",
        receiver.violations()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_queries_stay_within_the_span_limit() {
    // Compressed (the default): one composite. Without compression: the span limit.
    for compression in [true, false] {
        ten_thousand_queries(compression).await;
    }
}

async fn ten_thousand_queries(compression: bool) {
    use axum::Router;
    use axum::extract::State;
    use axum::routing::get;
    use elastic_apm_sqlx::ApmPool;
    use elastic_apm_tower::ApmLayer;

    let receiver = intake_receiver::IntakeReceiver::start().await;
    let agent = receiver
        .agent_builder()
        .service_name("sqlx-e2e")
        .span_compression_enabled(compression)
        .build();
    let pool = support::sqlite_in_memory(&agent).await;
    let app = Router::new()
        .route(
            "/report",
            get(|State(pool): State<ApmPool<sqlx::Sqlite>>| async move {
                let mut sum = 0i64;
                for i in 0..10_000i64 {
                    let one: i64 = sqlx::query_scalar("SELECT $1")
                        .bind(i)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                    sum += one;
                }
                sum.to_string()
            }),
        )
        .with_state(pool)
        .layer(ApmLayer::new(&agent));
    let body = get_once(app, "/report").await;
    assert_eq!(body, (0..10_000i64).sum::<i64>().to_string());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while receiver.accepted("transaction").is_empty() && std::time::Instant::now() < deadline {
        agent.flush(Duration::from_secs(5)).await;
    }
    let transaction = &receiver.accepted("transaction")[0];
    let spans = receiver.accepted("span");
    assert!(
        spans.len() <= 500,
        "transaction_max_spans (500) span events at most"
    );
    // Every query is accounted for: in a span, in a composite span, or as dropped.
    let in_spans: u64 = spans
        .iter()
        .map(|s| s["composite"]["count"].as_u64().unwrap_or(1))
        .sum();
    let dropped = transaction["span_count"]["dropped"].as_u64().unwrap();
    assert_eq!(in_spans + dropped, 10_000, "{} span events", spans.len());
    let stats = transaction["dropped_spans_stats"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(stats <= 128);
    println!(
        "10,000 queries, compression {compression}: {} span events ({in_spans} queries in them), {dropped} dropped, {stats} dropped_spans_stats entries",
        spans.len()
    );
    if !compression {
        assert_eq!(spans.len(), 500);
        assert_eq!(stats, 1, "one destination, one outcome");
        assert_eq!(
            transaction["dropped_spans_stats"][0]["duration"]["count"],
            9_500
        );
    }
    assert!(
        receiver.violations().is_empty(),
        "{:#?}",
        receiver.violations()
    );
}
