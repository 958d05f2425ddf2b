//! Transaction names: `METHOD /route/{template}` (`tracing-instrumentation-http.md`).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::{Method, Uri};

/// What a naming hook sees of a request.
#[derive(Debug)]
#[non_exhaustive]
pub struct RouteInfo<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request URI.
    pub uri: &'a Uri,
    /// The matched route template (axum's `MatchedPath`), when known.
    pub route: Option<&'a str>,
}

/// How transactions are named.
#[derive(Clone, Default)]
pub(crate) enum Naming {
    /// `GET /users/{id}` from the route template; `GET unknown route` without one.
    #[default]
    RouteTemplate,
    /// `GET /users/42`: the raw path (beware: one name per distinct URL).
    RawPath,
    /// A function of the request.
    Custom(Arc<dyn Fn(&RouteInfo<'_>) -> String + Send + Sync>),
}

impl fmt::Debug for Naming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Naming::RouteTemplate => f.write_str("RouteTemplate"),
            Naming::RawPath => f.write_str("RawPath"),
            Naming::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Naming {
    pub(crate) fn name(&self, info: &RouteInfo<'_>) -> Cow<'static, str> {
        match self {
            Naming::RouteTemplate => match info.route {
                Some(route) => method_and(info.method, route).into(),
                None => unknown_route(info.method),
            },
            Naming::RawPath => method_and(info.method, info.uri.path()).into(),
            Naming::Custom(name) => name(info).into(),
        }
    }
}

/// `GET /path`, in one allocation and without the formatting machinery: it runs on
/// every request.
fn method_and(method: &Method, path: &str) -> String {
    let method = method.as_str();
    let mut name = String::with_capacity(method.len() + 1 + path.len());
    name.push_str(method);
    name.push(' ');
    name.push_str(path);
    name
}

/// `GET unknown route`, without formatting for the common methods.
pub(crate) fn unknown_route(method: &Method) -> Cow<'static, str> {
    match *method {
        Method::GET => "GET unknown route".into(),
        Method::POST => "POST unknown route".into(),
        Method::PUT => "PUT unknown route".into(),
        Method::DELETE => "DELETE unknown route".into(),
        Method::PATCH => "PATCH unknown route".into(),
        Method::HEAD => "HEAD unknown route".into(),
        Method::OPTIONS => "OPTIONS unknown route".into(),
        _ => format!("{method} unknown route").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let uri: Uri = "/users/42?x=1".parse().unwrap();
        let info = RouteInfo {
            method: &Method::GET,
            uri: &uri,
            route: Some("/users/{id}"),
        };
        assert_eq!(Naming::RouteTemplate.name(&info), "GET /users/{id}");
        assert_eq!(Naming::RawPath.name(&info), "GET /users/42");
        let info = RouteInfo {
            route: None,
            ..info
        };
        assert_eq!(Naming::RouteTemplate.name(&info), "GET unknown route");
        let custom = Naming::Custom(Arc::new(|i: &RouteInfo<'_>| {
            format!("custom {}", i.uri.path())
        }));
        assert_eq!(custom.name(&info), "custom /users/42");
        assert_eq!(
            unknown_route(&Method::from_bytes(b"PURGE").unwrap()),
            "PURGE unknown route"
        );
    }
}
