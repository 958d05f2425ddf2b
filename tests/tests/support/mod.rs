//! Setup shared by the end-to-end tests that declare `mod support;`.

use elastic_apm_core::Agent;
use elastic_apm_sqlx::ApmPool;

/// An instrumented in-memory SQLite pool. One connection: each in-memory SQLite
/// connection is its own database, so a second one would not see the first's tables.
pub(crate) async fn sqlite_in_memory(agent: &Agent) -> ApmPool<sqlx::Sqlite> {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    ApmPool::new(pool, agent)
}
