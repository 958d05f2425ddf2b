//! A small shop: axum + `ApmLayer`, sqlx through `ApmPool` (SQLite by default,
//! PostgreSQL when `DATABASE_URL` says so), and outgoing calls through the reqwest
//! middleware. Each integration is one line, marked `// APM`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use elastic_apm_core::Agent;
use elastic_apm_sqlx::ApmPool;
use elastic_apm_tower::{ApmLayer, ReportedError};
use reqwest_middleware::ClientWithMiddleware;
use serde::{Deserialize, Serialize};

/// The shop's database: SQLite or PostgreSQL, both instrumented.
#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite (the default: in memory, or `sqlite:` URLs).
    Sqlite(ApmPool<sqlx::Sqlite>),
    /// PostgreSQL (`postgres:` URLs).
    Postgres(ApmPool<sqlx::Postgres>),
}

/// Runs the same code on whichever database the shop has.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

impl Db {
    /// Connects to `url` (`sqlite::memory:` when `None`), instrumented, with the schema
    /// and a few products.
    pub async fn connect(url: Option<&str>, agent: &Agent) -> Result<Db, sqlx::Error> {
        let db = match url {
            Some(url) if url.starts_with("postgres") => {
                Db::Postgres(ApmPool::connect(url, agent).await?) // APM
            }
            Some(url) => Db::Sqlite(ApmPool::connect(url, agent).await?), // APM
            None => {
                // One connection: each in-memory SQLite connection is its own database.
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect("sqlite::memory:")
                    .await?;
                Db::Sqlite(ApmPool::new(pool, agent)) // APM
            }
        };
        db.seed().await?;
        Ok(db)
    }

    async fn seed(&self) -> Result<(), sqlx::Error> {
        on_db!(self, pool => {
            for statement in [
                "CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL, stock INTEGER NOT NULL)",
                "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, quantity INTEGER NOT NULL)",
                "DELETE FROM orders",
                "DELETE FROM products",
            ] {
                sqlx::query(statement).execute(pool).await?;
            }
            for (id, name, price, stock) in [(1, "kettle", 2_499, 10), (2, "teapot", 1_999, 3), (3, "mug", 899, 0)] {
                sqlx::query("INSERT INTO products (id, name, price_cents, stock) VALUES ($1, $2, $3, $4)")
                    .bind(id).bind(name).bind(price).bind(stock)
                    .execute(pool)
                    .await?;
            }
            Ok(())
        })
    }
}

/// A product.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Product {
    id: i32,
    name: String,
    price_cents: i32,
    stock: i32,
}

/// `POST /orders`.
#[derive(Debug, Deserialize)]
pub struct NewOrder {
    product_id: i32,
    quantity: i32,
}

/// What the shop needs in its handlers.
#[derive(Clone, Debug)]
pub struct Shop {
    db: Db,
    client: ClientWithMiddleware,
    /// Where `/stock/{id}` is asked during an order (this shop itself by default).
    downstream: Arc<str>,
}

/// The shop's routes, instrumented by `ApmLayer`.
pub fn app(agent: &Agent, db: Db, downstream: &str) -> Router {
    let client = elastic_apm_reqwest::instrument(reqwest::Client::new(), agent); // APM
    let shop = Shop {
        db,
        client,
        downstream: downstream.trim_end_matches('/').into(),
    };
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/products", get(products))
        .route("/products/{id}", get(product))
        .route("/orders", post(order))
        .route("/stock/{id}", get(stock))
        .route("/error", get(failing))
        .route("/panic", get(panicking))
        .route("/test", post(trace_context_test))
        .with_state(shop)
        .layer(ApmLayer::new(agent)) // APM
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn products(State(shop): State<Shop>) -> Result<Json<Vec<Product>>, AppError> {
    let query = "SELECT id, name, price_cents, stock FROM products ORDER BY id";
    let products = on_db!(&shop.db, pool => sqlx::query_as(query).fetch_all(pool).await)?;
    Ok(Json(products))
}

async fn product(State(shop): State<Shop>, Path(id): Path<i32>) -> Result<Response, AppError> {
    let query = "SELECT id, name, price_cents, stock FROM products WHERE id = $1";
    let product: Option<Product> =
        on_db!(&shop.db, pool => sqlx::query_as(query).bind(id).fetch_optional(pool).await)?;
    Ok(match product {
        Some(product) => Json(product).into_response(),
        None => (StatusCode::NOT_FOUND, "no such product").into_response(),
    })
}

async fn stock(State(shop): State<Shop>, Path(id): Path<i32>) -> Result<Response, AppError> {
    let query = "SELECT stock FROM products WHERE id = $1";
    let stock: Option<i32> =
        on_db!(&shop.db, pool => sqlx::query_scalar(query).bind(id).fetch_optional(pool).await)?;
    Ok(match stock {
        Some(stock) => Json(serde_json::json!({ "id": id, "stock": stock })).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    })
}

/// A database transaction, and a call to the stock service in the middle of it: one
/// request, a distributed trace of two transactions.
async fn order(
    State(shop): State<Shop>,
    Json(order): Json<NewOrder>,
) -> Result<Response, AppError> {
    let url = format!("{}/stock/{}", shop.downstream, order.product_id);
    let available = match shop.client.get(url).send().await {
        Ok(response) if response.status().is_success() => {
            let body: serde_json::Value = serde_json::from_slice(&response.bytes().await?)?;
            body["stock"].as_i64().unwrap_or(0)
        }
        Ok(_) => return Ok((StatusCode::NOT_FOUND, "no such product").into_response()),
        Err(error) => return Err(AppError::new("the stock service failed", error)),
    };
    if available < i64::from(order.quantity) {
        return Ok((StatusCode::CONFLICT, "not enough stock").into_response());
    }
    let id = on_db!(&shop.db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE products SET stock = stock - $1 WHERE id = $2")
            .bind(order.quantity).bind(order.product_id)
            .execute(&mut tx).await?;
        let id: i32 = sqlx::query_scalar("INSERT INTO orders (product_id, quantity) VALUES ($1, $2) RETURNING id")
            .bind(order.product_id).bind(order.quantity)
            .fetch_one(&mut tx).await?;
        tx.commit().await?;
        id
    });
    let created =
        serde_json::json!({ "id": id, "product_id": order.product_id, "quantity": order.quantity });
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn failing(State(shop): State<Shop>) -> Result<&'static str, AppError> {
    let query = "SELECT price FROM discounts WHERE code = $1";
    let found: Result<Option<i32>, sqlx::Error> = on_db!(&shop.db, pool => sqlx::query_scalar(query).bind("WINTER").fetch_optional(pool).await);
    match found {
        Ok(_) => Ok("no error today"),
        Err(error) => Err(AppError::new("could not apply the discount", error)),
    }
}

async fn panicking() -> &'static str {
    panic!("the shop's handler panicked on purpose");
}

/// The W3C trace-context test suite's test service: for each `{url, arguments}`, POST
/// `arguments` as JSON to `url`, propagating the trace.
async fn trace_context_test(
    State(shop): State<Shop>,
    Json(calls): Json<Vec<serde_json::Value>>,
) -> StatusCode {
    for call in calls {
        let (Some(url), arguments) = (call["url"].as_str(), &call["arguments"]) else {
            continue;
        };
        let body = serde_json::to_vec(arguments).unwrap_or_default();
        let _ = shop
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
    }
    StatusCode::OK
}

/// A handler's failure: answered 500, and reported to APM with its cause chain.
#[derive(Debug)]
pub struct AppError {
    message: &'static str,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl AppError {
    fn new(
        message: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        AppError {
            message,
            source: source.into(),
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

macro_rules! app_error_from {
    ($($error:ty => $message:literal),*) => {$(
        impl From<$error> for AppError {
            fn from(error: $error) -> Self {
                AppError::new($message, error)
            }
        }
    )*};
}

app_error_from! {
    sqlx::Error => "the database failed",
    reqwest::Error => "reading the stock service's answer failed",
    serde_json::Error => "the stock service's answer is not JSON"
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::INTERNAL_SERVER_ERROR, self.message).into_response();
        response.extensions_mut().insert(ReportedError::new(self)); // APM: report it
        response
    }
}
