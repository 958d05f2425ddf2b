//! The small JSON service the overhead benchmark and the callgrind harness both serve.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;

/// `GET /products/{id}`: a product as a few dozen bytes of JSON, no I/O.
pub fn router() -> Router {
    Router::new().route(
        "/products/{id}",
        get(|Path(id): Path<u32>| async move {
            format!(
                r#"{{"id":{id},"name":"product {id}","price":{}.99}}"#,
                id % 100
            )
        }),
    )
}
