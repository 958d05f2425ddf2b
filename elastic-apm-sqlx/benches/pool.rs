//! What `ApmPool` adds per query over the raw pool: SQLite in memory, `SELECT` of one
//! row, inside a sampled transaction (a span per query) and outside any (none).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use elastic_apm_core::model::Event;
use elastic_apm_core::{Agent, ApmFutureExt};
use elastic_apm_sqlx::ApmPool;
use sqlx::sqlite::SqlitePoolOptions;

fn query_cost(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Events are dropped on report: the numbers are the instrumentation's, not a transport's.
    let agent = Agent::builder()
        .read_env(false)
        .reporter(|event: Event| drop(black_box(event)))
        // One long transaction records every span of the run.
        .transaction_max_spans(u32::MAX)
        .build();
    let raw = runtime.block_on(async {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO products (id, name) VALUES (1, 'widget')")
            .execute(&pool)
            .await
            .unwrap();
        pool
    });
    let apm = ApmPool::new(raw.clone(), &agent);
    let select = "SELECT id, name FROM products WHERE id = $1";

    let mut group = c.benchmark_group("sqlite in-memory query");
    group.bench_function("raw pool", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let row: (i64, String) = sqlx::query_as(select)
                    .bind(1)
                    .fetch_one(&raw)
                    .await
                    .unwrap();
                black_box(row);
            })
        })
    });
    group.bench_function("ApmPool, outside a transaction", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let row: (i64, String) = sqlx::query_as(select)
                    .bind(1)
                    .fetch_one(&apm)
                    .await
                    .unwrap();
                black_box(row);
            })
        })
    });
    let tx = agent.start_transaction("bench", "request");
    let segment = tx.segment();
    group.bench_function("ApmPool, a span per query", |b| {
        b.iter(|| {
            runtime.block_on(
                async {
                    let row: (i64, String) = sqlx::query_as(select)
                        .bind(1)
                        .fetch_one(&apm)
                        .await
                        .unwrap();
                    black_box(row);
                }
                .in_segment(segment.clone()),
            )
        })
    });
    group.finish();
    drop(tx);
}

criterion_group!(benches, query_cost);
criterion_main!(benches);
