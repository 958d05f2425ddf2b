//! `ApmTransaction`: a database transaction, instrumented.

use std::fmt;

use sqlx::{Database, Error, Transaction};

use crate::database::{ApmDatabase, SharedEndpoint};
use crate::query;

/// A database transaction begun on an [`ApmPool`](crate::ApmPool) or
/// [`ApmConnection`](crate::ApmConnection); use `&mut tx` as the executor, then
/// [`commit`](Self::commit) or [`rollback`](Self::rollback) (each a span). Dropped
/// without either, it rolls back, as sqlx's does.
pub struct ApmTransaction<'c, DB: Database> {
    transaction: Transaction<'c, DB>,
    endpoint: SharedEndpoint,
}

impl<'c, DB: ApmDatabase> ApmTransaction<'c, DB> {
    pub(crate) fn new(transaction: Transaction<'c, DB>, endpoint: SharedEndpoint) -> Self {
        ApmTransaction {
            transaction,
            endpoint,
        }
    }

    /// Commits (a `COMMIT` span).
    pub async fn commit(self) -> Result<(), Error> {
        let ApmTransaction {
            transaction,
            endpoint,
        } = self;
        query::statement::<DB, _>(&endpoint, "COMMIT", transaction.commit()).await
    }

    /// Rolls back (a `ROLLBACK` span).
    pub async fn rollback(self) -> Result<(), Error> {
        let ApmTransaction {
            transaction,
            endpoint,
        } = self;
        query::statement::<DB, _>(&endpoint, "ROLLBACK", transaction.rollback()).await
    }

    /// The transaction itself; queries run on it directly are not recorded.
    pub fn inner(&mut self) -> &mut Transaction<'c, DB> {
        &mut self.transaction
    }
}

impl<DB: Database> fmt::Debug for ApmTransaction<'_, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApmTransaction")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

query::instrumented_executor!('t, ApmTransaction<'_, DB>, transaction);
