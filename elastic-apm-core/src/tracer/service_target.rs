//! `context.service.target` and `context.destination.service.resource` of exit spans,
//! inferred per `tracing-spans-service-target.md` unless the instrumentation set them.

use crate::model::{DestinationService, ServiceContext, ServiceTarget, SpanContext};

/// Fills in (or, for spans that are not exit spans, removes) the service target and
/// the destination resource derived from it.
pub(crate) fn infer(context: &mut SpanContext, kind: &str, subtype: Option<&str>, exit: bool) {
    if !exit {
        if let Some(service) = context.service.as_mut() {
            service.target = None;
        }
        if let Some(destination) = context.destination.as_mut() {
            destination.service = None;
        }
        return;
    }
    let given = context
        .service
        .as_ref()
        .and_then(|s| s.target.clone())
        .unwrap_or_default();
    let target_type = given
        .kind
        .clone()
        .unwrap_or_else(|| subtype.unwrap_or(kind).to_owned());
    let mut name_is_address = false;
    let name = given.name.clone().or_else(|| {
        if let Some(db) = &context.db {
            db.instance.clone()
        } else if let Some(message) = &context.message {
            message.queue.as_ref().map(|q| q.name.clone())
        } else {
            let url = context.http.as_ref()?.url.as_deref()?;
            name_is_address = true;
            host_and_port(url)
        }
    });
    // HTTP-like targets are known by their address alone; others as type/name.
    let resource = match &name {
        Some(name) if name_is_address => name.clone(),
        Some(name) => format!("{target_type}/{name}"),
        None => target_type.clone(),
    };
    context
        .service
        .get_or_insert_with(ServiceContext::default)
        .target = Some(ServiceTarget::new(target_type, name));
    let destination = context.destination.get_or_insert_with(Default::default);
    if destination.service.is_none() {
        destination.service = Some(DestinationService::new(resource));
    }
}

/// `host:port` of a URL, with the scheme's default port when none is given.
pub(crate) fn host_and_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if authority.is_empty() {
        return None;
    }
    let has_port = match authority.rsplit_once(':') {
        Some((_, port)) => !port.contains(']') && port.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    };
    if has_port {
        return Some(authority.to_ascii_lowercase());
    }
    let port = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => 443,
        _ => 80,
    };
    Some(format!("{}:{port}", authority.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            host_and_port("http://a.b:9200/x").as_deref(),
            Some("a.b:9200")
        );
        assert_eq!(host_and_port("https://A.b").as_deref(), Some("a.b:443"));
        assert_eq!(host_and_port("http://u:p@a.b?q").as_deref(), Some("a.b:80"));
        assert_eq!(host_and_port("http://[::1]/").as_deref(), Some("[::1]:80"));
        assert_eq!(
            host_and_port("http://[::1]:8080").as_deref(),
            Some("[::1]:8080")
        );
        assert_eq!(host_and_port("nonsense"), None);
        assert_eq!(host_and_port("http:///path"), None);
    }
}
