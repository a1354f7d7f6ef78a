//! The HTTP plumbing the three clients share: one configured `reqwest`
//! client per provider client, uniform transport and decode errors, and
//! logging that records method, path and status but never headers (which
//! carry the credentials).

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::config::HttpOptions;
use super::error::ProviderError;

const USER_AGENT: &str = concat!("rampart/", env!("CARGO_PKG_VERSION"));

/// A response read to the end, so it can be inspected for errors and
/// decoded afterwards.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The value of a header as text, if present and printable.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The body as text for error messages, cut to a readable length.
    pub fn body_excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        if text.is_empty() {
            return self
                .status
                .canonical_reason()
                .unwrap_or("no message")
                .to_string();
        }
        text.chars().take(500).collect()
    }
}

/// A `reqwest` client set up for one provider.
#[derive(Clone)]
pub(crate) struct Transport {
    provider: &'static str,
    client: reqwest::Client,
}

impl Transport {
    pub fn new(provider: &'static str, options: &HttpOptions) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(options.request_timeout)
            .connect_timeout(options.connect_timeout)
            // API endpoints never redirect; refusing to follow redirects
            // guarantees credentials are only ever sent to the configured host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProviderError::InvalidConfig {
                provider,
                var: "HTTP client".to_string(),
                reason: e.to_string(),
            })?;
        Ok(Transport { provider, client })
    }

    pub fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends a request and reads the whole body. `endpoint` is the path used
    /// in logs and errors: it never contains credentials.
    pub async fn execute(
        &self,
        method: &Method,
        endpoint: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Reply, ProviderError> {
        let transport_error = |source| ProviderError::Transport {
            provider: self.provider,
            method: method.to_string(),
            endpoint: endpoint.to_string(),
            source,
        };
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport_error)?.to_vec();
        tracing::debug!(
            provider = self.provider,
            %method,
            endpoint,
            status = status.as_u16(),
            "provider API call"
        );
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// Builds `base` + `/segment/...` + `?query`. Segments are percent-encoded
/// (server names come from the API and from users), so the URL that is
/// signed or logged is exactly the one sent.
pub(crate) fn build_url(
    provider: &'static str,
    base: &str,
    segments: &[&str],
    query: &[(&str, String)],
) -> Result<url::Url, ProviderError> {
    let invalid = |reason: String| ProviderError::InvalidConfig {
        provider,
        var: "endpoint".to_string(),
        reason,
    };
    let mut url = url::Url::parse(base).map_err(|e| invalid(format!("{base:?}: {e}")))?;
    url.path_segments_mut()
        .map_err(|()| invalid(format!("{base:?} cannot have a path")))?
        .pop_if_empty()
        .extend(segments);
    if !query.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
    }
    Ok(url)
}

/// The path part used to name an endpoint in logs and errors.
pub(crate) fn endpoint_name(segments: &[&str]) -> String {
    format!("/{}", segments.join("/"))
}

/// Decodes a JSON body, naming the endpoint when its shape is unexpected.
pub(crate) fn decode<T: DeserializeOwned>(
    provider: &'static str,
    method: &Method,
    endpoint: &str,
    body: &[u8],
) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|source| ProviderError::Decode {
        provider,
        method: method.to_string(),
        endpoint: endpoint.to_string(),
        source,
    })
}

/// Seconds since the Unix epoch on this machine.
pub(crate) fn unix_now() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // A clock before 1970 is broken; 0 keeps the arithmetic defined.
        Err(_) => 0,
    }
}
