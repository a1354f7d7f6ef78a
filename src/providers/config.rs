//! Configuration shared by the provider clients: secrets that never print,
//! environment lookup that tests can inject, and the bounds on every retry
//! and polling loop.

use std::fmt;
use std::time::Duration;

use url::Url;

use super::error::ProviderError;

/// A credential value. Its `Debug` output is masked and it has no `Display`,
/// so it cannot end up in logs or error messages by accident; code that
/// needs the value calls [`Secret::expose`] at the one place it is sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for the HTTP layer only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Lets secrets in API responses (root or rescue passwords) be decoded
/// straight into a masked value.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// Reads one environment variable. `from_env()` constructors pass
/// `std::env::var`; tests pass a closure over a map so they never mutate
/// the process environment (which is shared by parallel tests).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment as an [`EnvLookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A variable's value, treating an empty value as unset (as the official
/// hcloud and OVH clients do).
pub(crate) fn lookup_nonempty(lookup: EnvLookup<'_>, var: &str) -> Option<String> {
    lookup(var).filter(|v| !v.trim().is_empty())
}

/// The value of the first variable in `vars` that is set.
pub(crate) fn lookup_first(lookup: EnvLookup<'_>, vars: &[&str]) -> Option<String> {
    vars.iter().find_map(|var| lookup_nonempty(lookup, var))
}

/// Checks that an endpoint is an absolute http(s) URL and returns it
/// without trailing slashes, so paths can be appended with `format!`.
pub(crate) fn normalise_endpoint(
    provider: &'static str,
    var: &str,
    raw: &str,
) -> Result<String, ProviderError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let invalid = |reason: String| ProviderError::InvalidConfig {
        provider,
        var: var.to_string(),
        reason,
    };
    let url = Url::parse(trimmed).map_err(|e| invalid(format!("{trimmed:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(format!(
            "{trimmed:?} must be an http(s) URL with a host"
        )));
    }
    Ok(trimmed.to_string())
}

/// How 429 (rate limited) answers are retried. Every retry loop is bounded
/// by `max_retries`, and every single wait by `max_wait`, so a skewed clock
/// or a far-away reset time cannot stall a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: u32,
    /// Upper bound of one wait, whatever the provider's reset time says.
    pub max_wait: Duration,
    /// Wait used when the provider gives no usable reset time.
    pub fallback_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            max_wait: Duration::from_secs(60),
            fallback_wait: Duration::from_secs(1),
        }
    }
}

/// How asynchronous actions are polled until they finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    /// Pause between two polls.
    pub interval: Duration,
    /// Total time after which waiting fails with [`ProviderError::Timeout`].
    pub timeout: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(600),
        }
    }
}

impl PollPolicy {
    /// Upper bound on the number of polls, so the loop is bounded even if
    /// the clock misbehaves.
    pub(crate) fn max_polls(&self) -> u64 {
        let interval = self.interval.as_millis().max(1);
        let polls = self.timeout.as_millis() / interval + 1;
        u64::try_from(polls).unwrap_or(u64::MAX)
    }
}

/// Transport settings shared by all clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Timeout for one whole request (connect, send, read the body).
    pub request_timeout: Duration,
    /// Timeout for establishing the TCP/TLS connection.
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    pub poll: PollPolicy,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            poll: PollPolicy::default(),
        }
    }
}

/// The builder and constructor methods every provider's config and client
/// share, written once: `with_http` and `from_env` on the config (and
/// `with_endpoint` where the base URL is a plain URL; OVH resolves short
/// names instead), `from_env` and `endpoint` on the client. Inherent
/// methods, so callers need no trait in scope.
macro_rules! provider_builders {
    ($config:ident, $client:ident, endpoint) => {
        impl $config {
            /// Points the client at another base URL (e.g. a test server).
            pub fn with_endpoint(mut self, endpoint: &str) -> Result<Self, ProviderError> {
                self.endpoint = normalise_endpoint(PROVIDER, ENV_ENDPOINT, endpoint)?;
                Ok(self)
            }
        }
        provider_builders!($config, $client);
    };
    ($config:ident, $client:ident) => {
        impl $config {
            pub fn with_http(mut self, http: HttpOptions) -> Self {
                self.http = http;
                self
            }

            /// Reads the provider's variables from the process environment.
            pub fn from_env() -> Result<Self, ProviderError> {
                Self::from_lookup(&process_env)
            }
        }

        impl $client {
            /// A client configured from the process environment.
            pub fn from_env() -> Result<Self, ProviderError> {
                Self::new($config::from_env()?)
            }

            /// The base URL in use.
            pub fn endpoint(&self) -> &str {
                &self.endpoint
            }
        }
    };
}
pub(crate) use provider_builders;

/// An [`EnvLookup`] over fixed pairs, for the clients' tests: they never
/// touch the process environment, which parallel tests share.
#[cfg(test)]
pub(crate) fn test_lookup(
    pairs: &'static [(&'static str, &'static str)],
) -> impl Fn(&str) -> Option<String> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_masked() {
        let s = Secret::new("very-secret-token");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "very-secret-token");
    }

    #[test]
    fn endpoint_is_trimmed_and_validated() {
        assert_eq!(
            normalise_endpoint("hcloud", "HCLOUD_ENDPOINT", "https://api.example/v1/").ok(),
            Some("https://api.example/v1".to_string())
        );
        assert!(normalise_endpoint("hcloud", "HCLOUD_ENDPOINT", "api.example/v1").is_err());
        assert!(normalise_endpoint("hcloud", "HCLOUD_ENDPOINT", "ftp://api.example").is_err());
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let lookup = |k: &str| match k {
            "A" => Some(String::new()),
            "B" => Some("b".to_string()),
            _ => None,
        };
        assert_eq!(lookup_nonempty(&lookup, "A"), None);
        assert_eq!(lookup_first(&lookup, &["A", "B"]), Some("b".to_string()));
    }

    #[test]
    fn poll_count_is_bounded() {
        let p = PollPolicy {
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(p.max_polls(), 11);
        let zero = PollPolicy {
            interval: Duration::ZERO,
            timeout: Duration::from_millis(5),
        };
        assert_eq!(zero.max_polls(), 6);
    }
}
