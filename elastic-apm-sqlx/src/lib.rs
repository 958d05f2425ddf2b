//! Elastic APM for sqlx: swap the pool for an [`ApmPool`] and every query is a
//! database span of the current transaction.
//!
//! ```no_run
//! # #[cfg(feature = "sqlite")]
//! # async fn example() -> Result<(), sqlx::Error> {
//! use elastic_apm_core::Agent;
//! use elastic_apm_sqlx::ApmPool;
//!
//! let agent = Agent::from_env();
//! let pool = ApmPool::<sqlx::Sqlite>::connect("sqlite::memory:", &agent).await?; // the one line
//! let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM products").fetch_one(&pool).await?;
//!
//! let mut tx = pool.begin().await?;
//! sqlx::query("UPDATE products SET stock = stock - 1 WHERE id = $1").bind(7).execute(&mut tx).await?;
//! tx.commit().await?;
//! # Ok(()) }
//! ```
//!
//! Each statement run through the pool, a connection from [`ApmPool::acquire`], or a
//! transaction from [`ApmPool::begin`] becomes an exit span: type `db`, subtype
//! `postgresql` / `mysql` / `sqlite` (cargo features of those names), action `query`,
//! named by the spec's SQL signature (`SELECT FROM products`), with `context.db`
//! (`sql`, the database name, the user, the statement with its placeholders, rows
//! affected), `context.destination` and `context.service.target`. A failing statement
//! is a failure and its error is captured. A streamed query (`fetch`) is one span that
//! lasts until the stream ends or is dropped. `BEGIN`, `COMMIT` and `ROLLBACK` are spans
//! too. Outside any transaction, nothing is recorded.
//!
//! Bound values are never recorded: sqlx sends them apart from the statement text.
//! Connection acquisition is part of a pool query's span, not a span of its own.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod connection;
mod database;
mod pool;
mod query;
mod transaction;

pub use elastic_apm_core as core;
pub use sqlx;

pub use crate::connection::ApmConnection;
pub use crate::database::{ApmDatabase, Endpoint};
pub use crate::pool::ApmPool;
pub use crate::transaction::ApmTransaction;
