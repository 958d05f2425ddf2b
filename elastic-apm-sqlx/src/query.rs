//! One query, one span: started before the query runs, named once its SQL is known,
//! ended when its result (or stream) is done or dropped.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use elastic_apm_core::model::{Db, Destination};
use elastic_apm_core::{Outcome, Span, current_segment};
use futures_core::Stream;
use futures_core::stream::BoxStream;
use sqlx::{Database, Either, Error, Execute};
use sqlx_core::sql_str::SqlStr;

use crate::database::{ApmDatabase, Endpoint};

/// What `fetch_many` streams: results (rows affected) and rows.
pub(crate) type Results<'e, DB> =
    BoxStream<'e, Result<Either<<DB as Database>::QueryResult, <DB as Database>::Row>, Error>>;

/// The span of one statement, shared by the query (which learns the SQL) and the
/// future or stream (which learns how it went). It ends when both are gone.
pub(crate) type QuerySpan = Arc<Span>;

/// Starts an exit span under the current transaction or span; `None` outside any. A
/// span over `transaction_max_spans` is kept too: its destination and duration count
/// in `dropped_spans_stats`.
pub(crate) fn start<DB: ApmDatabase>(endpoint: &Endpoint, name: &'static str) -> Option<QuerySpan> {
    let parent = current_segment()?;
    let span = parent
        .span(name, "db")
        .subtype(DB::SUBTYPE)
        .action("query")
        .exit()
        .start();
    span.with_context(|c| {
        let mut db = Db::default();
        db.kind = Some("sql".to_owned());
        db.instance = endpoint.instance.clone();
        db.user = endpoint.user.clone();
        c.db = Some(db);
        if endpoint.address.is_some() {
            let mut destination = Destination::default();
            destination.address = endpoint.address.clone();
            destination.port = endpoint.port;
            c.destination = Some(destination);
        }
    });
    Some(Arc::new(span))
}

/// Names the span after the statement and records its text (placeholders, never the
/// bound values: those travel apart, as arguments).
fn annotate(span: &Span, sql: &str) {
    if !span.is_recording() {
        // Dropped (over the span limit): the signature would be computed for nothing.
        return;
    }
    span.set_name(elastic_apm_core::sql::signature(sql));
    span.with_context(|c| {
        if let Some(db) = c.db.as_mut() {
            db.statement = Some(sql.to_owned());
        }
    });
}

/// Marks the span failed and captures the error under it.
pub(crate) fn failed(span: &Span, error: &Error) {
    span.set_instrumentation_outcome(Outcome::Failure);
    span.capture_error(error);
}

/// A query that tells its span its SQL when the driver asks for it.
pub(crate) struct Traced<E> {
    inner: E,
    span: Option<QuerySpan>,
}

impl<E> Traced<E> {
    pub(crate) fn new(inner: E, span: Option<QuerySpan>) -> Self {
        Traced { inner, span }
    }
}

impl<'q, DB: Database, E: Execute<'q, DB>> Execute<'q, DB> for Traced<E> {
    fn sql(self) -> SqlStr {
        let sql = self.inner.sql();
        if let Some(span) = &self.span {
            annotate(span, sql.as_str());
        }
        sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.inner.statement()
    }

    fn take_arguments(
        &mut self,
    ) -> Result<Option<<DB as Database>::Arguments>, sqlx_core::error::BoxDynError> {
        self.inner.take_arguments()
    }

    fn persistent(&self) -> bool {
        self.inner.persistent()
    }
}

/// The results of a query as they stream in; the span covers the whole stream.
pub(crate) struct TracedStream<'e, DB: Database> {
    inner: Results<'e, DB>,
    span: Option<QuerySpan>,
    rows_affected: u64,
    saw_result: bool,
    _db: PhantomData<fn() -> DB>,
}

impl<'e, DB: Database> TracedStream<'e, DB> {
    pub(crate) fn new(inner: Results<'e, DB>, span: Option<QuerySpan>) -> Self {
        TracedStream {
            inner,
            span,
            rows_affected: 0,
            saw_result: false,
            _db: PhantomData,
        }
    }
}

impl<DB: ApmDatabase> Stream for TracedStream<'_, DB> {
    type Item = Result<Either<DB::QueryResult, DB::Row>, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = this.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(Either::Left(result)))) => {
                this.rows_affected += DB::rows_affected(result);
                this.saw_result = true;
            }
            Poll::Ready(Some(Err(error))) => {
                if let Some(span) = this.span.take() {
                    failed(&span, error);
                }
            }
            Poll::Ready(None) => {
                if let Some(span) = this.span.take() {
                    let rows = this.saw_result.then_some(this.rows_affected);
                    span.with_context(|c| {
                        if let Some(db) = c.db.as_mut() {
                            db.rows_affected = rows;
                        }
                    });
                }
            }
            _ => {}
        }
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// `fetch_many` through `inner`, as one span.
pub(crate) fn fetch_many<'c, 'e, 'q, DB, X, E>(
    inner: X,
    endpoint: &Endpoint,
    query: E,
) -> Results<'e, DB>
where
    'c: 'e,
    'q: 'e,
    DB: ApmDatabase,
    X: sqlx::Executor<'c, Database = DB>,
    E: 'q + Execute<'q, DB>,
{
    let span = start::<DB>(endpoint, "query");
    let stream = inner.fetch_many(Traced::new(query, span.clone()));
    Box::pin(TracedStream::<DB>::new(stream, span))
}

/// `fetch_optional` through `inner`, as one span.
pub(crate) fn fetch_optional<'c, 'e, 'q, DB, X, E>(
    inner: X,
    endpoint: &Endpoint,
    query: E,
) -> futures_core::future::BoxFuture<'e, Result<Option<DB::Row>, Error>>
where
    'c: 'e,
    'q: 'e,
    DB: ApmDatabase,
    X: sqlx::Executor<'c, Database = DB>,
    E: 'q + Execute<'q, DB>,
{
    let span = start::<DB>(endpoint, "query");
    let future = inner.fetch_optional(Traced::new(query, span.clone()));
    Box::pin(async move {
        let result = future.await;
        if let (Some(span), Err(error)) = (&span, &result) {
            failed(span, error);
        }
        result
    })
}

/// Runs `operation` (`BEGIN`, `COMMIT`, `ROLLBACK`) as a span of its own.
pub(crate) async fn statement<DB: ApmDatabase, T>(
    endpoint: &Endpoint,
    sql: &'static str,
    operation: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let span = start::<DB>(endpoint, sql);
    if let Some(span) = &span {
        annotate(span, sql);
    }
    let result = operation.await;
    if let (Some(span), Err(error)) = (&span, &result) {
        failed(span, error);
    }
    result
}

/// `Executor` for `&mut` an instrumented connection or transaction: `$inner` is the
/// field holding what sqlx executes on. Each statement becomes a span (see
/// [`fetch_many`] and [`fetch_optional`]); preparing and describing pass through.
macro_rules! instrumented_executor {
    ($lt:lifetime, $ty:ty, $inner:ident) => {
        impl<$lt, DB: $crate::database::ApmDatabase> ::sqlx::Executor<$lt> for &$lt mut $ty
        where
            for<'x> &'x mut DB::Connection: ::sqlx::Executor<'x, Database = DB>,
        {
            type Database = DB;

            fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> $crate::query::Results<'e, DB>
            where
                $lt: 'e,
                E: 'q + ::sqlx::Execute<'q, DB>,
            {
                $crate::query::fetch_many(&mut *self.$inner, &self.endpoint, query)
            }

            fn fetch_optional<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> ::futures_core::future::BoxFuture<'e, Result<Option<DB::Row>, ::sqlx::Error>>
            where
                $lt: 'e,
                E: 'q + ::sqlx::Execute<'q, DB>,
            {
                $crate::query::fetch_optional(&mut *self.$inner, &self.endpoint, query)
            }

            fn prepare_with<'e>(
                self,
                sql: ::sqlx_core::sql_str::SqlStr,
                parameters: &'e [DB::TypeInfo],
            ) -> ::futures_core::future::BoxFuture<'e, Result<DB::Statement, ::sqlx::Error>>
            where
                $lt: 'e,
            {
                (&mut *self.$inner).prepare_with(sql, parameters)
            }

            fn describe<'e>(
                self,
                sql: ::sqlx_core::sql_str::SqlStr,
            ) -> ::futures_core::future::BoxFuture<
                'e,
                Result<::sqlx_core::describe::Describe<DB>, ::sqlx::Error>,
            >
            where
                $lt: 'e,
            {
                (&mut *self.$inner).describe(sql)
            }
        }
    };
}
pub(crate) use instrumented_executor;
