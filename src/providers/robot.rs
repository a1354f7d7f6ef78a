//! Hetzner Robot web service client (`https://robot-ws.your-server.de`),
//! for dedicated servers.
//!
//! Authentication is HTTP basic auth with a Robot *web service* user (not
//! the Robot login). The variables are the ones the community tooling uses,
//! so one shell setup serves both: the `community.hrobot` Ansible
//! collection reads `HROBOT_API_USER` and `HROBOT_API_PASSWORD`. The shorter
//! `HROBOT_USER` / `HROBOT_PASSWORD` are accepted as fallbacks.
//! `HROBOT_ENDPOINT` overrides the base URL.
//!
//! API details relied on (Robot web service documentation):
//! * `GET /server` answers a JSON array of `{"server": {...}}`;
//! * `POST` bodies are form-encoded (`authorized_key[]` repeated);
//! * errors are `{"error": {"status", "code", "message"}}`; an account
//!   without servers gets a 404 from `GET /server` rather than `[]`;
//! * the rate limit answers 403 `RATE_LIMIT_EXCEEDED` with a window of up
//!   to an hour, so it is reported, not waited out.

use std::fmt;
use std::net::Ipv4Addr;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::config::{
    lookup_first, lookup_nonempty, normalise_endpoint, process_env, provider_builders, EnvLookup,
    HttpOptions, Secret,
};
use super::error::{ApiError, ProviderError, RateLimitError};
use super::http::{build_url, decode, endpoint_name, Reply, Transport};
use super::{filter_by_selector, Provider, ProviderKind, ProviderServer, ServerKind};
use crate::sites::normalise_robot_dc;

const PROVIDER: &str = "robot";
/// Default API base URL.
pub const DEFAULT_ENDPOINT: &str = "https://robot-ws.your-server.de";
/// Web service user, as read by the community.hrobot Ansible collection.
pub const ENV_USER: &str = "HROBOT_API_USER";
/// Web service password, as read by the community.hrobot Ansible collection.
pub const ENV_PASSWORD: &str = "HROBOT_API_PASSWORD";
/// Accepted fallback for [`ENV_USER`].
pub const ENV_USER_FALLBACK: &str = "HROBOT_USER";
/// Accepted fallback for [`ENV_PASSWORD`].
pub const ENV_PASSWORD_FALLBACK: &str = "HROBOT_PASSWORD";
/// Base URL override.
pub const ENV_ENDPOINT: &str = "HROBOT_ENDPOINT";

/// Everything needed to build a [`RobotClient`].
#[derive(Clone)]
pub struct RobotConfig {
    pub endpoint: String,
    pub user: String,
    pub password: Secret,
    pub http: HttpOptions,
}

impl fmt::Debug for RobotConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RobotConfig")
            .field("endpoint", &self.endpoint)
            .field("user", &self.user)
            .field("password", &"***")
            .field("http", &self.http)
            .finish()
    }
}

impl RobotConfig {
    pub fn new(user: impl Into<String>, password: Secret) -> Self {
        RobotConfig {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            user: user.into(),
            password,
            http: HttpOptions::default(),
        }
    }

    pub fn from_lookup(lookup: EnvLookup<'_>) -> Result<Self, ProviderError> {
        let user = lookup_first(lookup, &[ENV_USER, ENV_USER_FALLBACK]).ok_or(
            ProviderError::MissingCredential {
                provider: PROVIDER,
                var: ENV_USER,
            },
        )?;
        let password = lookup_first(lookup, &[ENV_PASSWORD, ENV_PASSWORD_FALLBACK]).ok_or(
            ProviderError::MissingCredential {
                provider: PROVIDER,
                var: ENV_PASSWORD,
            },
        )?;
        let config = RobotConfig::new(user, Secret::new(password));
        match lookup_nonempty(lookup, ENV_ENDPOINT) {
            Some(endpoint) => config.with_endpoint(&endpoint),
            None => Ok(config),
        }
    }

    /// True when any Robot credential variable is set.
    pub fn is_configured(lookup: EnvLookup<'_>) -> bool {
        lookup_first(
            lookup,
            &[
                ENV_USER,
                ENV_USER_FALLBACK,
                ENV_PASSWORD,
                ENV_PASSWORD_FALLBACK,
            ],
        )
        .is_some()
    }
}

/// Client for the Robot web service. Cheap to clone.
#[derive(Clone)]
pub struct RobotClient {
    endpoint: String,
    user: String,
    password: Secret,
    http: Transport,
}

impl fmt::Debug for RobotClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RobotClient")
            .field("endpoint", &self.endpoint)
            .field("user", &self.user)
            .field("password", &"***")
            .finish_non_exhaustive()
    }
}

/// A dedicated server (`GET /server`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct RobotServer {
    pub server_number: u64,
    #[serde(default)]
    pub server_name: String,
    #[serde(default)]
    pub server_ip: Option<String>,
    #[serde(default)]
    pub server_ipv6_net: Option<String>,
    #[serde(default)]
    pub product: String,
    /// Data centre, e.g. `FSN1-DC14`.
    #[serde(default)]
    pub dc: String,
    #[serde(default)]
    pub traffic: String,
    /// `ready` or `in process`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub cancelled: bool,
    #[serde(default)]
    pub paid_until: Option<String>,
    #[serde(default)]
    pub ip: Vec<String>,
    #[serde(default)]
    pub subnet: Option<Vec<RobotSubnet>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct RobotSubnet {
    pub ip: String,
    pub mask: String,
}

#[derive(Deserialize)]
struct ServerEnvelope {
    server: RobotServer,
}

/// What to boot into rescue with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RescueRequest {
    /// Rescue system, normally `linux`.
    pub os: String,
    /// Fingerprints of SSH keys stored in Robot
    /// (`aa:bb:...`), authorised for root in the rescue system.
    pub authorized_keys: Vec<String>,
}

impl RescueRequest {
    /// Linux rescue with these key fingerprints.
    pub fn linux(authorized_keys: Vec<String>) -> Self {
        RescueRequest {
            os: "linux".into(),
            authorized_keys,
        }
    }

    fn form(&self) -> Vec<(&'static str, &str)> {
        let mut form = vec![("os", self.os.as_str())];
        form.extend(
            self.authorized_keys
                .iter()
                .map(|k| ("authorized_key[]", k.as_str())),
        );
        form
    }
}

/// The rescue system as activated (`POST /boot/{n}/rescue`).
#[derive(Debug, Clone, Deserialize)]
pub struct Rescue {
    pub server_number: u64,
    #[serde(default)]
    pub server_ip: Option<String>,
    #[serde(default)]
    pub server_ipv6_net: Option<String>,
    pub os: String,
    pub active: bool,
    /// Root password of the rescue system (masked in `Debug`).
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub authorized_key: Vec<AuthorizedKey>,
    #[serde(default)]
    pub host_key: Vec<serde_json::Value>,
    #[serde(default)]
    pub boot_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuthorizedKey {
    pub key: RobotKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RobotKey {
    #[serde(default)]
    pub name: String,
    pub fingerprint: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub size: u32,
}

#[derive(Deserialize)]
struct RescueEnvelope {
    rescue: Rescue,
}

/// Kind of reset (`POST /reset/{n}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetKind {
    /// Ctrl+Alt+Del.
    Software,
    /// Reset button.
    Hardware,
    /// Short press of the power button.
    Power,
}

impl ResetKind {
    /// The API's value for `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetKind::Software => "sw",
            ResetKind::Hardware => "hw",
            ResetKind::Power => "power",
        }
    }
}

/// Answer of `POST /reset/{n}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResetResult {
    pub server_number: u64,
    #[serde(default)]
    pub server_ip: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Deserialize)]
struct ResetEnvelope {
    reset: ResetResult,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: RobotApiError,
}

#[derive(Deserialize)]
struct RobotApiError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl RobotClient {
    pub fn new(config: RobotConfig) -> Result<Self, ProviderError> {
        let http = Transport::new(PROVIDER, &config.http)?;
        Ok(RobotClient {
            endpoint: config.endpoint,
            user: config.user,
            password: config.password,
            http,
        })
    }

    /// `GET /server`: all dedicated servers of the account. (The
    /// [`Provider`] method `list_servers` gives them as [`ProviderServer`]s.)
    pub async fn list_dedicated_servers(&self) -> Result<Vec<RobotServer>, ProviderError> {
        let wrapped: Result<Vec<ServerEnvelope>, ProviderError> = self.get(&["server"]).await;
        match wrapped {
            Ok(list) => Ok(list.into_iter().map(|e| e.server).collect()),
            // Robot answers 404 instead of an empty list.
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// `GET /server/{server-number}`.
    pub async fn get_server(&self, server_number: u64) -> Result<RobotServer, ProviderError> {
        let env: ServerEnvelope = self.get(&["server", &server_number.to_string()]).await?;
        Ok(env.server)
    }

    /// `POST /boot/{server-number}/rescue`: activates the rescue system for
    /// the next boot (a reset is needed to boot into it).
    pub async fn activate_rescue(
        &self,
        server_number: u64,
        request: &RescueRequest,
    ) -> Result<Rescue, ProviderError> {
        let segments = ["boot", &server_number.to_string(), "rescue"];
        let env: RescueEnvelope = self.post_form(&segments, &request.form()).await?;
        Ok(env.rescue)
    }

    /// `POST /reset/{server-number}` with `type=sw|hw|power`.
    pub async fn reset(
        &self,
        server_number: u64,
        kind: ResetKind,
    ) -> Result<ResetResult, ProviderError> {
        let segments = ["reset", &server_number.to_string()];
        let env: ResetEnvelope = self
            .post_form(&segments, &[("type", kind.as_str())])
            .await?;
        Ok(env.reset)
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ProviderError> {
        let url = build_url(PROVIDER, &self.endpoint, segments, &[])?;
        let endpoint = endpoint_name(segments);
        let request = self.authorised(Method::GET, url.as_str());
        let reply = self.http.execute(&Method::GET, &endpoint, request).await?;
        let reply = check_status(&Method::GET, &endpoint, reply)?;
        decode(PROVIDER, &Method::GET, &endpoint, &reply.body)
    }

    async fn post_form<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        form: &[(&str, &str)],
    ) -> Result<T, ProviderError> {
        let url = build_url(PROVIDER, &self.endpoint, segments, &[])?;
        let endpoint = endpoint_name(segments);
        let request = self.authorised(Method::POST, url.as_str()).form(form);
        let reply = self.http.execute(&Method::POST, &endpoint, request).await?;
        let reply = check_status(&Method::POST, &endpoint, reply)?;
        decode(PROVIDER, &Method::POST, &endpoint, &reply.body)
    }

    fn authorised(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(&self.user, Some(self.password.expose()))
    }
}

fn check_status(method: &Method, endpoint: &str, reply: Reply) -> Result<Reply, ProviderError> {
    if reply.status.is_success() {
        return Ok(reply);
    }
    let parsed = serde_json::from_slice::<ErrorEnvelope>(&reply.body).ok();
    let (code, message) = match parsed {
        Some(env) => (
            env.error.code,
            env.error.message.unwrap_or_else(|| reply.body_excerpt()),
        ),
        None => (None, reply.body_excerpt()),
    };
    if code.as_deref() == Some("RATE_LIMIT_EXCEEDED") {
        return Err(ProviderError::from(RateLimitError {
            provider: PROVIDER,
            method: method.to_string(),
            endpoint: endpoint.to_string(),
            retries: 0,
            message,
            reset_at: None,
            request_id: None,
        }));
    }
    Err(ProviderError::from(ApiError {
        provider: PROVIDER,
        method: method.to_string(),
        endpoint: endpoint.to_string(),
        status: reply.status.as_u16(),
        code,
        message,
        details: None,
        request_id: None,
    }))
}

impl From<&RobotServer> for ProviderServer {
    fn from(s: &RobotServer) -> Self {
        ProviderServer {
            provider: ProviderKind::Hetzner,
            kind: ServerKind::Dedicated,
            id: s.server_number.to_string(),
            name: s.server_name.clone(),
            ipv4: s
                .server_ip
                .as_deref()
                .and_then(|ip| ip.parse::<Ipv4Addr>().ok()),
            ipv6: s.server_ipv6_net.clone().filter(|v| !v.is_empty()),
            private_ips: Vec::new(),
            location: normalise_robot_dc(&s.dc),
            location_raw: s.dc.clone(),
            labels: Default::default(),
            status: s.status.clone(),
            plan: Some(s.product.clone()).filter(|p| !p.is_empty()),
            project: None,
        }
    }
}

impl Provider for RobotClient {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn list_servers(
        &self,
        label_selector: Option<&str>,
    ) -> Result<Vec<ProviderServer>, ProviderError> {
        let servers = self.list_dedicated_servers().await?;
        let servers = servers.iter().map(ProviderServer::from).collect();
        filter_by_selector(PROVIDER, servers, label_selector)
    }

    /// Matches the server name, or the server number.
    async fn find_server(&self, name: &str) -> Result<Option<ProviderServer>, ProviderError> {
        let servers = self.list_dedicated_servers().await?;
        Ok(servers
            .iter()
            .find(|s| s.server_name == name || s.server_number.to_string() == name)
            .map(ProviderServer::from))
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::test_lookup as lookup;
    use super::*;

    #[test]
    fn community_names_win_over_fallbacks() {
        let config = RobotConfig::from_lookup(&lookup(&[
            ("HROBOT_API_USER", "ws-main"),
            ("HROBOT_USER", "ws-other"),
            ("HROBOT_API_PASSWORD", "pw-main"),
        ]));
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.user, "ws-main");
        assert_eq!(config.password.expose(), "pw-main");
        assert_eq!(config.endpoint, DEFAULT_ENDPOINT);
    }

    #[test]
    fn fallback_names_and_endpoint_override() {
        let config = RobotConfig::from_lookup(&lookup(&[
            ("HROBOT_USER", "ws"),
            ("HROBOT_PASSWORD", "pw"),
            ("HROBOT_ENDPOINT", "http://127.0.0.1:9000/"),
        ]));
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.user, "ws");
        assert_eq!(config.endpoint, "http://127.0.0.1:9000");
    }

    #[test]
    fn missing_password_is_named() {
        let err = RobotConfig::from_lookup(&lookup(&[("HROBOT_API_USER", "ws")])).err();
        assert!(matches!(
            err,
            Some(ProviderError::MissingCredential {
                var: "HROBOT_API_PASSWORD",
                ..
            })
        ));
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let config = RobotConfig::new("ws-user", Secret::new("robot-pass-value"));
        let text = format!("{config:?}");
        assert!(!text.contains("robot-pass-value"), "{text}");
        let client = RobotClient::new(config).map(|c| format!("{c:?}"));
        let text = client.unwrap_or_else(|e| panic!("{e}"));
        assert!(!text.contains("robot-pass-value"), "{text}");
    }

    #[test]
    fn rescue_form_repeats_authorized_key() {
        let request = RescueRequest::linux(vec!["aa:bb".into(), "cc:dd".into()]);
        assert_eq!(
            request.form(),
            vec![
                ("os", "linux"),
                ("authorized_key[]", "aa:bb"),
                ("authorized_key[]", "cc:dd")
            ]
        );
    }
}

provider_builders!(RobotConfig, RobotClient, endpoint);
