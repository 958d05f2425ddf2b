//! `ApmConnection`: a pooled connection, instrumented.

use std::fmt;

use futures_core::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Database, Error, Execute, Executor};
use sqlx_core::sql_str::SqlStr;

use crate::database::{ApmDatabase, SharedEndpoint};
use crate::query;
use crate::transaction::ApmTransaction;

/// A connection from an [`ApmPool`](crate::ApmPool); use `&mut conn` as the executor.
pub struct ApmConnection<DB: Database> {
    connection: PoolConnection<DB>,
    endpoint: SharedEndpoint,
}

impl<DB: ApmDatabase> ApmConnection<DB> {
    pub(crate) fn new(connection: PoolConnection<DB>, endpoint: SharedEndpoint) -> Self {
        ApmConnection {
            connection,
            endpoint,
        }
    }

    /// The connection itself; queries run on it directly are not recorded.
    pub fn inner(&mut self) -> &mut PoolConnection<DB> {
        &mut self.connection
    }

    /// Starts a database transaction on this connection (a `BEGIN` span).
    pub async fn begin(&mut self) -> Result<ApmTransaction<'_, DB>, Error> {
        let endpoint = self.endpoint.clone();
        let transaction =
            query::statement::<DB, _>(&endpoint, "BEGIN", self.connection.begin()).await?;
        Ok(ApmTransaction::new(transaction, endpoint))
    }
}

impl<DB: Database> fmt::Debug for ApmConnection<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApmConnection")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl<'c, DB: ApmDatabase> Executor<'c> for &'c mut ApmConnection<DB>
where
    for<'x> &'x mut DB::Connection: Executor<'x, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> crate::query::Results<'e, DB>
    where
        'c: 'e,
        E: 'q + Execute<'q, DB>,
    {
        query::fetch_many(&mut *self.connection, &self.endpoint, query)
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, DB>,
    {
        query::fetch_optional(&mut *self.connection, &self.endpoint, query)
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, Error>>
    where
        'c: 'e,
    {
        (&mut *self.connection).prepare_with(sql, parameters)
    }

    fn describe<'e>(
        self,
        sql: SqlStr,
    ) -> BoxFuture<'e, Result<sqlx_core::describe::Describe<DB>, Error>>
    where
        'c: 'e,
    {
        (&mut *self.connection).describe(sql)
    }
}
