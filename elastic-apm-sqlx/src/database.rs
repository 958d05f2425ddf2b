//! What each database contributes: its span subtype, where it runs, rows affected.

use std::sync::Arc;

use sqlx::{Connection, Database};

/// Where a pool's database is, for `context.db` and `context.destination`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoint {
    /// The database name (`db.instance`, and the service target name).
    pub instance: Option<String>,
    /// The user name.
    pub user: Option<String>,
    /// The server's host name or address.
    pub address: Option<String>,
    /// The server's port.
    pub port: Option<u16>,
}

/// A database `ApmPool` can instrument: PostgreSQL, MySQL and SQLite, each behind the
/// cargo feature of that name.
pub trait ApmDatabase: Database {
    /// The span subtype: `postgresql`, `mysql`, `sqlite`.
    const SUBTYPE: &'static str;

    /// The endpoint from the pool's connect options.
    fn endpoint(options: &<Self::Connection as Connection>::Options) -> Endpoint;

    /// Rows a statement changed, from its result.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

pub(crate) type SharedEndpoint = Arc<Endpoint>;

#[cfg(any(feature = "postgres", feature = "mysql"))]
fn server_endpoint(host: &str, port: u16, user: &str, database: Option<&str>) -> Endpoint {
    Endpoint {
        instance: database.map(str::to_owned),
        user: (!user.is_empty()).then(|| user.to_owned()),
        // A Unix socket path is no network address.
        address: (!host.starts_with('/')).then(|| host.to_owned()),
        port: (!host.starts_with('/')).then_some(port),
    }
}

#[cfg(feature = "postgres")]
impl ApmDatabase for sqlx::Postgres {
    const SUBTYPE: &'static str = "postgresql";

    fn endpoint(options: &sqlx::postgres::PgConnectOptions) -> Endpoint {
        server_endpoint(
            options.get_host(),
            options.get_port(),
            options.get_username(),
            // PostgreSQL's default database is the user's name.
            options.get_database().or(Some(options.get_username())),
        )
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

#[cfg(feature = "mysql")]
impl ApmDatabase for sqlx::MySql {
    const SUBTYPE: &'static str = "mysql";

    fn endpoint(options: &sqlx::mysql::MySqlConnectOptions) -> Endpoint {
        server_endpoint(
            options.get_host(),
            options.get_port(),
            options.get_username(),
            options.get_database(),
        )
    }

    fn rows_affected(result: &sqlx::mysql::MySqlQueryResult) -> u64 {
        result.rows_affected()
    }
}

#[cfg(feature = "sqlite")]
impl ApmDatabase for sqlx::Sqlite {
    const SUBTYPE: &'static str = "sqlite";

    fn endpoint(options: &sqlx::sqlite::SqliteConnectOptions) -> Endpoint {
        let file = options.get_filename();
        Endpoint {
            // The file's name (`shop.db`). An in-memory database has none worth sending:
            // `:memory:`, or the shared-cache name sqlx gives it (`file:sqlx-in-memory-1`).
            instance: file
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .filter(|name| {
                    !name.is_empty() && !name.starts_with(':') && !name.starts_with("file:")
                }),
            ..Endpoint::default()
        }
    }

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}
