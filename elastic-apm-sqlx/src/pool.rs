//! `ApmPool`: the pool, instrumented.

use std::fmt;
use std::sync::Arc;

use elastic_apm_core::Agent;
use futures_core::future::BoxFuture;
use sqlx::{Database, Error, Execute, Executor, Pool};
use sqlx_core::sql_str::SqlStr;

use crate::connection::ApmConnection;
use crate::database::{ApmDatabase, SharedEndpoint};
use crate::query;
use crate::transaction::ApmTransaction;

/// A sqlx pool whose every query is a span of the current transaction. Use it where
/// the pool was: `sqlx::query(..).fetch_all(&pool)`, `pool.begin()`, `pool.acquire()`.
/// Cheap to clone, like the pool.
///
/// Outside any transaction or span, queries run as they would without it.
pub struct ApmPool<DB: Database> {
    pool: Pool<DB>,
    endpoint: SharedEndpoint,
}

impl<DB: ApmDatabase> ApmPool<DB> {
    /// Instruments `pool`. Spans go to the transaction current when each query runs,
    /// which belongs to `agent` (or another agent: the pool does not mind).
    pub fn new(pool: Pool<DB>, agent: &Agent) -> Self {
        // The agent decides nothing here; taking it keeps the one-line swap explicit
        // about which agent instruments the application.
        let _ = agent;
        let endpoint = Arc::new(DB::endpoint(&pool.connect_options()));
        ApmPool { pool, endpoint }
    }

    /// Connects a pool to `url` and instruments it.
    pub async fn connect(url: &str, agent: &Agent) -> Result<Self, Error> {
        Ok(ApmPool::new(Pool::connect(url).await?, agent))
    }

    /// The pool itself, for what needs it (`sqlx::migrate!().run(pool.inner())`);
    /// queries run on it directly are not recorded.
    pub fn inner(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The pool itself.
    pub fn into_inner(self) -> Pool<DB> {
        self.pool
    }

    /// Where the database is, as recorded on spans.
    pub fn endpoint(&self) -> &crate::Endpoint {
        &self.endpoint
    }

    /// A connection from the pool; queries on it are recorded.
    pub async fn acquire(&self) -> Result<ApmConnection<DB>, Error> {
        let connection = self.pool.acquire().await?;
        Ok(ApmConnection::new(connection, self.endpoint.clone()))
    }

    /// Starts a database transaction (a `BEGIN` span); queries in it are recorded.
    pub async fn begin(&self) -> Result<ApmTransaction<'static, DB>, Error> {
        let transaction =
            query::statement::<DB, _>(&self.endpoint, "BEGIN", self.pool.begin()).await?;
        Ok(ApmTransaction::new(transaction, self.endpoint.clone()))
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl<DB: Database> Clone for ApmPool<DB> {
    fn clone(&self) -> Self {
        ApmPool {
            pool: self.pool.clone(),
            endpoint: self.endpoint.clone(),
        }
    }
}

impl<DB: Database> fmt::Debug for ApmPool<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApmPool")
            .field("pool", &self.pool)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl<'p, DB: ApmDatabase> Executor<'p> for &'_ ApmPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> crate::query::Results<'e, DB>
    where
        E: 'q + Execute<'q, DB>,
    {
        query::fetch_many(&self.pool, &self.endpoint, query)
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
    where
        E: 'q + Execute<'q, DB>,
    {
        query::fetch_optional(&self.pool, &self.endpoint, query)
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, Error>>
    where
        'p: 'e,
    {
        (&self.pool).prepare_with(sql, parameters)
    }

    fn describe<'e>(
        self,
        sql: SqlStr,
    ) -> BoxFuture<'e, Result<sqlx_core::describe::Describe<DB>, Error>> {
        (&self.pool).describe(sql)
    }
}
