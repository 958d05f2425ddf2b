//! HTTP status to transaction `result` and `outcome` (`tracing-instrumentation-http.md`).

use elastic_apm_core::Outcome;
use http::StatusCode;

/// `HTTP 2xx` and so on.
pub(crate) fn result(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "HTTP 1xx",
        2 => "HTTP 2xx",
        3 => "HTTP 3xx",
        4 => "HTTP 4xx",
        5 => "HTTP 5xx",
        _ => "HTTP xxx",
    }
}

/// From the server's point of view only 5xx is a failure: 4xx is the caller's.
pub(crate) fn outcome(status: StatusCode) -> Outcome {
    if status.is_server_error() {
        Outcome::Failure
    } else {
        Outcome::Success
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(result(StatusCode::NOT_FOUND), "HTTP 4xx");
        assert_eq!(outcome(StatusCode::NOT_FOUND), Outcome::Success);
        assert_eq!(result(StatusCode::BAD_GATEWAY), "HTTP 5xx");
        assert_eq!(outcome(StatusCode::BAD_GATEWAY), Outcome::Failure);
        assert_eq!(result(StatusCode::CONTINUE), "HTTP 1xx");
    }
}
