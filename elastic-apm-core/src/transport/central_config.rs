//! Central configuration (`configuration.md`): polls `/config/v1/agents` and applies
//! what Kibana's APM app sets, live.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::header::{CACHE_CONTROL, ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH};
use http::{Method, StatusCode, Uri};

use super::body::RequestBody;
use super::client::{HttpClient, encode_query_value};
use crate::live::Shared;
use crate::logging;

/// When the server gives no usable `Cache-Control: max-age`.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// Never more often than this, whatever the server says.
const MIN_INTERVAL: Duration = Duration::from_secs(5);

pub(super) async fn poll(client: HttpClient, shared: Arc<Shared>) {
    let uri = match config_uri(&client, &shared) {
        Ok(uri) => uri,
        Err(err) => {
            logging::warning!("central configuration disabled: {err}");
            return;
        }
    };
    let mut etag = None;
    let mut unreachable = 0u32;
    loop {
        let wait = match fetch_once(&client, &shared, &uri, &mut etag).await {
            Some(wait) => {
                unreachable = 0;
                wait
            }
            // Not reached at all: try again soon (5 s, 10 s, ... up to 5 min), so a server
            // that is down at start-up does not delay central configuration for long.
            None => {
                unreachable = unreachable.saturating_add(1);
                (MIN_INTERVAL * 2u32.saturating_pow(unreachable - 1).min(60)).min(DEFAULT_INTERVAL)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

fn config_uri(client: &HttpClient, shared: &Shared) -> Result<Uri, crate::error::TransportError> {
    let config = shared.live.local();
    let mut path = format!(
        "/config/v1/agents?service.name={}",
        encode_query_value(&config.service_name)
    );
    if let Some(environment) = &config.environment {
        path.push_str("&service.environment=");
        path.push_str(&encode_query_value(environment));
    }
    client.uri(&path)
}

/// One poll; returns how long to wait before the next, or `None` when the server was
/// not reached.
async fn fetch_once(
    client: &HttpClient,
    shared: &Shared,
    uri: &Uri,
    etag: &mut Option<HeaderValue>,
) -> Option<Duration> {
    let mut request = client.request(Method::GET, uri.clone());
    if let Some(etag) = etag.as_ref() {
        request = request.header(IF_NONE_MATCH, etag.clone());
    }
    let Ok(request) = request.body(RequestBody::empty()) else {
        return Some(DEFAULT_INTERVAL);
    };
    let timeout = shared.live.local().server_timeout;
    let answer = match client.send(request, timeout).await {
        Ok(answer) => answer,
        Err(err) => {
            logging::debug!("central configuration unavailable: {err}");
            return None;
        }
    };
    match answer.status {
        StatusCode::OK => match parse(&answer.body) {
            Some(options) => {
                apply(shared, &options);
                *etag = answer.headers.get(ETAG).cloned();
            }
            None => logging::warning!("Central config failure. The answer is not a JSON object"),
        },
        StatusCode::NOT_MODIFIED => {}
        status if status.is_server_error() => {
            logging::error!("Central config failure. APM Server answered {status}")
        }
        // 403/404: central configuration is off or unsupported there; nothing to do.
        status => logging::debug!("central configuration not available: {status}"),
    }
    Some(next_poll(&answer.headers))
}

fn apply(shared: &Shared, options: &BTreeMap<String, String>) {
    let outcome = shared.live.apply_central(options);
    if !outcome.unsupported.is_empty() {
        logging::warning!(
            "Central config failure. Unsupported config names: {}",
            outcome.unsupported.join(", ")
        );
    }
    for invalid in &outcome.invalid {
        logging::warning!("Central config failure. {invalid}");
    }
    let names: Vec<&str> = options.keys().map(String::as_str).collect();
    logging::info!("central configuration applied: [{}]", names.join(", "));
}

/// `{"transaction_sample_rate": "0.5", ...}`; non-string values are taken as written.
pub(super) fn parse(body: &[u8]) -> Option<BTreeMap<String, String>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    Some(
        object
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (name.clone(), value)
            })
            .collect(),
    )
}

/// `Cache-Control: max-age=N` (N > 0), at least [`MIN_INTERVAL`]; else the default.
pub(super) fn next_poll(headers: &HeaderMap) -> Duration {
    let max_age = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|directive| {
            let (name, value) = directive.trim().split_once('=')?;
            name.eq_ignore_ascii_case("max-age")
                .then(|| value.trim().parse::<u64>().ok())?
        })
        .filter(|&secs| secs > 0);
    max_age.map_or(DEFAULT_INTERVAL, |secs| {
        Duration::from_secs(secs).max(MIN_INTERVAL)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_sets_the_interval() {
        let mut headers = HeaderMap::new();
        assert_eq!(next_poll(&headers), DEFAULT_INTERVAL);
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=30"),
        );
        assert_eq!(next_poll(&headers), Duration::from_secs(30));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=1"));
        assert_eq!(next_poll(&headers), MIN_INTERVAL);
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=0"));
        assert_eq!(next_poll(&headers), DEFAULT_INTERVAL);
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=x"));
        assert_eq!(next_poll(&headers), DEFAULT_INTERVAL);
    }

    #[test]
    fn options_parse_from_json() {
        let options = parse(br#"{"transaction_sample_rate": "0.5", "recording": false}"#).unwrap();
        assert_eq!(options["transaction_sample_rate"], "0.5");
        assert_eq!(options["recording"], "false");
        assert!(parse(b"[1]").is_none());
    }
}
