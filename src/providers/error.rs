//! The one error type every provider client returns.
//!
//! Each variant keeps what an operator needs to act on a failure without
//! re-running with debug logs: which provider, which endpoint, the
//! provider's own message and code, and the request id the provider's
//! support desk asks for (Hetzner's `X-Correlation-Id`, OVH's
//! `X-Ovh-QueryId`). Credentials never appear in any variant.

use std::time::Duration;

/// Errors from the provider API clients.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A required credential is not set in the environment.
    #[error("{provider}: missing credential: set the {var} environment variable")]
    MissingCredential {
        provider: &'static str,
        /// The environment variable that must be set.
        var: &'static str,
    },

    /// A configuration value (endpoint, ...) could not be used.
    #[error("{provider}: invalid configuration in {var}: {reason}")]
    InvalidConfig {
        provider: &'static str,
        var: String,
        reason: String,
    },

    /// The provider answered with an HTTP error status.
    #[error(transparent)]
    Http(Box<ApiError>),

    /// The provider kept answering 429 after the bounded number of retries
    /// (or, for Robot, reported its hour-long rate limit).
    #[error(transparent)]
    RateLimited(Box<RateLimitError>),

    /// An asynchronous provider action finished with an error.
    #[error("{provider}: action {id} ({command}) failed: {message} ({code})")]
    ActionFailed {
        provider: &'static str,
        id: u64,
        command: String,
        code: String,
        message: String,
    },

    /// A bounded wait (action polling) ran out of time.
    #[error("{provider}: timed out after {after:?} waiting for {what}")]
    Timeout {
        provider: &'static str,
        what: String,
        after: Duration,
    },

    /// A response body did not have the documented shape.
    #[error("{provider}: cannot decode the response of {method} {endpoint}: {source}")]
    Decode {
        provider: &'static str,
        method: String,
        endpoint: String,
        #[source]
        source: serde_json::Error,
    },

    /// The request could not be sent or the response not read.
    #[error("{provider}: {method} {endpoint}: request failed: {source}")]
    Transport {
        provider: &'static str,
        method: String,
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },

    /// A pagination or listing loop hit its safety bound.
    #[error(
        "{provider}: {endpoint}: gave up after {limit} pages (the API kept returning a next page)"
    )]
    TooManyPages {
        provider: &'static str,
        endpoint: String,
        limit: u32,
    },

    /// The caller passed an argument the API cannot accept.
    #[error("{provider}: invalid argument: {reason}")]
    InvalidArgument {
        provider: &'static str,
        reason: String,
    },
}

/// An HTTP error answer, with everything the provider said about it.
#[derive(Debug, thiserror::Error)]
#[error(
    "{provider}: {method} {endpoint} failed with HTTP {status}{}: {message}{}",
    code_suffix(.code),
    request_id_suffix(.request_id)
)]
pub struct ApiError {
    pub provider: &'static str,
    pub method: String,
    /// Path of the endpoint, without the base URL.
    pub endpoint: String,
    pub status: u16,
    /// The provider's machine-readable error code or class, if any.
    pub code: Option<String>,
    /// The provider's human-readable message (or the raw body).
    pub message: String,
    /// Extra structured details (Hetzner's `details`), if any.
    pub details: Option<serde_json::Value>,
    /// The provider's request/correlation id, if it sent one.
    pub request_id: Option<String>,
}

/// Rate limiting that outlasted the retries.
#[derive(Debug, thiserror::Error)]
#[error(
    "{provider}: {method} {endpoint} still rate limited after {retries} retries: {message}{}",
    request_id_suffix(.request_id)
)]
pub struct RateLimitError {
    pub provider: &'static str,
    pub method: String,
    pub endpoint: String,
    pub retries: u32,
    pub message: String,
    /// Unix time at which the provider said the limit resets, if known.
    pub reset_at: Option<u64>,
    pub request_id: Option<String>,
}

impl From<ApiError> for ProviderError {
    fn from(e: ApiError) -> Self {
        ProviderError::Http(Box::new(e))
    }
}

impl From<RateLimitError> for ProviderError {
    fn from(e: RateLimitError) -> Self {
        ProviderError::RateLimited(Box::new(e))
    }
}

impl ProviderError {
    /// HTTP status of an [`ProviderError::Http`] error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ProviderError::Http(e) => Some(e.status),
            _ => None,
        }
    }

    /// The provider's request id, when the error carries one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ProviderError::Http(e) => e.request_id.as_deref(),
            ProviderError::RateLimited(e) => e.request_id.as_deref(),
            _ => None,
        }
    }

    /// True for an HTTP 404 from the provider.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_deref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default()
}

fn request_id_suffix(id: &Option<String>) -> String {
    id.as_deref()
        .map(|id| format!(" [request id {id}]"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_error_display_has_message_code_and_request_id() {
        let err = ProviderError::from(ApiError {
            provider: "hcloud",
            method: "GET".into(),
            endpoint: "/servers/42".into(),
            status: 404,
            code: Some("not_found".into()),
            message: "server with ID '42' not found".into(),
            details: None,
            request_id: Some("abc-123".into()),
        });
        let text = err.to_string();
        assert!(text.contains("HTTP 404 (not_found)"), "{text}");
        assert!(text.contains("server with ID '42' not found"), "{text}");
        assert!(text.contains("[request id abc-123]"), "{text}");
        assert_eq!(err.request_id(), Some("abc-123"));
        assert!(err.is_not_found());
    }

    #[test]
    fn missing_credential_names_the_variable() {
        let err = ProviderError::MissingCredential {
            provider: "hcloud",
            var: "HCLOUD_TOKEN",
        };
        assert!(err.to_string().contains("HCLOUD_TOKEN"));
    }
}
