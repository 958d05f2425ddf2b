//! SQL span names as every Elastic agent computes them (`tracing-instrumentation-db.md`,
//! "SQL Databases"): a low-cardinality signature of the statement, such as
//! `SELECT FROM products`, built from a limited tokenization of it.
//!
//! | Statement | Signature |
//! |-----------|-----------|
//! | `SELECT * FROM shop.products WHERE id = $1` | `SELECT FROM shop.products` |
//! | `INSERT INTO orders (id) VALUES (?)` | `INSERT INTO orders` |
//! | `UPDATE ONLY stock AS s SET n = 1` | `UPDATE stock` |
//! | `DELETE FROM carts WHERE ...` | `DELETE FROM carts` |
//! | `CALL restock(12)` | `CALL restock` |
//! | `CREATE TABLE ...`, `BEGIN`, a broken statement | its first word: `CREATE`, `BEGIN` |
//!
//! `SELECT` names the first table of the outermost query (`SELECT` alone when that is a
//! derived table); quotes around identifiers are dropped and comments are skipped.
//!
//! ```
//! use elastic_apm_core::sql::{Scanner, TokenKind, signature};
//!
//! assert_eq!(signature("select * from `shop`.products p join stock s"), "SELECT FROM shop.products");
//! assert_eq!(signature("/* app */ INSERT INTO orders (id) VALUES (?)"), "INSERT INTO orders");
//!
//! let kinds: Vec<&str> = Scanner::new("SELECT 1.5 -- one").map(|t| t.kind.as_str()).collect();
//! assert_eq!(kinds, ["SELECT", "NUMBER", "COMMENT"]);
//! assert_eq!(Scanner::new("\"a \"\" b\"").next().map(|t| (t.kind, t.text)), Some((TokenKind::Ident, "a \"\" b")));
//! ```
//!
//! # Cost
//!
//! Both run in time linear in the statement and never panic, whatever the input. The
//! [`Scanner`] borrows its tokens from the statement and allocates nothing; [`signature`]
//! allocates its result only, sized exactly. A signature is cut to
//! [`KEYWORD_MAX_CHARS`](crate::model::limits::KEYWORD_MAX_CHARS) characters, at a
//! character boundary.

mod scanner;
mod signature;

pub use scanner::{Scanner, Token, TokenKind};
pub use signature::signature;
