//! Errors a handler hands to the transaction through its response.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// An error for the transaction to report, attached to a response's extensions by a
/// handler (typically in an `IntoResponse` impl that turns the error into a 5xx).
///
/// ```
/// use elastic_apm_tower::ReportedError;
/// use http::{Response, StatusCode};
///
/// #[derive(Debug)]
/// struct OutOfStock;
/// impl std::fmt::Display for OutOfStock {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("out of stock") }
/// }
/// impl std::error::Error for OutOfStock {}
///
/// let mut response = Response::new(());
/// *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
/// response.extensions_mut().insert(ReportedError::new(OutOfStock));
/// ```
///
/// Inside the handler, `elastic_apm_core::capture_error(&err)` does the same at once,
/// since the transaction is current there.
#[derive(Clone)]
pub struct ReportedError {
    error: Arc<dyn Error + Send + Sync>,
    type_name: &'static str,
}

impl ReportedError {
    /// Wraps an error; its type name is reported as the exception type.
    pub fn new<E: Error + Send + Sync + 'static>(error: E) -> Self {
        ReportedError {
            error: Arc::new(error),
            type_name: std::any::type_name::<E>(),
        }
    }

    pub(crate) fn as_error(&self) -> &(dyn Error + 'static) {
        &*self.error
    }

    pub(crate) fn type_name(&self) -> &'static str {
        self.type_name
    }
}

impl fmt::Debug for ReportedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportedError")
            .field("type", &self.type_name)
            .field("error", &self.error.to_string())
            .finish()
    }
}
