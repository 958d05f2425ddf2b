//! `ApmConnection`: a pooled connection, instrumented.

use std::fmt;

use sqlx::pool::PoolConnection;
use sqlx::{Connection, Database, Error};

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

query::instrumented_executor!('c, ApmConnection<DB>, connection);
