//! Hetzner Cloud API client (`https://api.hetzner.cloud/v1`).
//!
//! Authentication is a project API token sent as a bearer token, read from
//! `HCLOUD_TOKEN`. `HCLOUD_ENDPOINT` overrides the base URL exactly as the
//! official `hcloud` CLI and hcloud-go honour it: the full base URL
//! including the version path, trailing slashes removed, an empty value
//! meaning the default.
//!
//! The API details this client relies on (from docs.hetzner.cloud):
//! * list endpoints page with `page`/`per_page` and answer
//!   `meta.pagination.next_page`, `null` on the last page;
//! * 429 answers carry `RateLimit-Limit`, `RateLimit-Remaining` and
//!   `RateLimit-Reset` (Unix time when the bucket is full again);
//! * errors are `{"error": {"code", "message", "details"}}` and every
//!   response has an `X-Correlation-Id` header;
//! * mutations return actions whose `status` goes `running` → `success` or
//!   `error`, read with `GET /actions/{id}`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::config::{
    lookup_nonempty, normalise_endpoint, process_env, provider_builders, EnvLookup, HttpOptions,
    Secret,
};
use super::error::{ApiError, ProviderError, RateLimitError};
use super::http::{build_url, decode, endpoint_name, Reply, Transport};
use super::{Provider, ProviderKind, ProviderServer, ServerKind};
use crate::sites::normalise_hcloud_location;

mod types;

pub use types::*;
use types::{
    ActionEnvelope, ActionsEnvelope, CreateServerBody, ErrorEnvelope, Meta, ServerEnvelope,
    SshKeyEnvelope,
};

const PROVIDER: &str = "hcloud";
/// Default API base URL.
pub const DEFAULT_ENDPOINT: &str = "https://api.hetzner.cloud/v1";
/// Environment variable holding the API token.
pub const ENV_TOKEN: &str = "HCLOUD_TOKEN";
/// Environment variable overriding the API base URL.
pub const ENV_ENDPOINT: &str = "HCLOUD_ENDPOINT";
/// Header carrying Hetzner's request id.
pub const CORRELATION_HEADER: &str = "X-Correlation-Id";

/// The API's maximum page size; fewer round trips for big projects.
const PER_PAGE: u32 = 50;
/// Safety bound on pagination: 50 000 items at 50 per page.
const MAX_PAGES: u32 = 1000;

// ---------------------------------------------------------------------------
// Configuration and client
// ---------------------------------------------------------------------------

/// Everything needed to build an [`HcloudClient`].
#[derive(Clone)]
pub struct HcloudConfig {
    /// Base URL without trailing slash.
    pub endpoint: String,
    pub token: Secret,
    pub http: HttpOptions,
}

impl fmt::Debug for HcloudConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HcloudConfig")
            .field("endpoint", &self.endpoint)
            .field("token", &"***")
            .field("http", &self.http)
            .finish()
    }
}

impl HcloudConfig {
    /// A config for the public API with default HTTP options.
    pub fn new(token: Secret) -> Self {
        HcloudConfig {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            token,
            http: HttpOptions::default(),
        }
    }

    /// Reads the variables through `lookup` (see [`EnvLookup`]).
    pub fn from_lookup(lookup: EnvLookup<'_>) -> Result<Self, ProviderError> {
        let token = lookup_nonempty(lookup, ENV_TOKEN).ok_or(ProviderError::MissingCredential {
            provider: PROVIDER,
            var: ENV_TOKEN,
        })?;
        let config = HcloudConfig::new(Secret::new(token));
        match lookup_nonempty(lookup, ENV_ENDPOINT) {
            Some(endpoint) => config.with_endpoint(&endpoint),
            None => Ok(config),
        }
    }

    /// True when the token variable is set, i.e. the user means to use
    /// Hetzner Cloud.
    pub fn is_configured(lookup: EnvLookup<'_>) -> bool {
        lookup_nonempty(lookup, ENV_TOKEN).is_some()
    }
}

/// Client for the Hetzner Cloud API. Cheap to clone.
#[derive(Clone)]
pub struct HcloudClient {
    endpoint: String,
    token: Secret,
    options: HttpOptions,
    http: Transport,
}

impl fmt::Debug for HcloudClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HcloudClient")
            .field("endpoint", &self.endpoint)
            .field("token", &"***")
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

impl HcloudClient {
    pub fn new(config: HcloudConfig) -> Result<Self, ProviderError> {
        let http = Transport::new(PROVIDER, &config.http)?;
        Ok(HcloudClient {
            endpoint: config.endpoint,
            token: config.token,
            options: config.http,
            http,
        })
    }

    // --- servers --------------------------------------------------------

    /// `GET /servers`, all pages, optionally filtered by a label selector.
    /// (The [`Provider`] method `list_servers` gives the same servers as
    /// [`ProviderServer`]s.)
    pub async fn list_cloud_servers(
        &self,
        label_selector: Option<&str>,
    ) -> Result<Vec<Server>, ProviderError> {
        let query = optional_query(&[("label_selector", label_selector)]);
        self.list_all(&["servers"], "servers", &query).await
    }

    /// `GET /servers?name=...`: the server with this exact name, if any.
    pub async fn get_server_by_name(&self, name: &str) -> Result<Option<Server>, ProviderError> {
        let query = [("name", name.to_string())];
        let servers: Vec<Server> = self.list_all(&["servers"], "servers", &query).await?;
        Ok(servers.into_iter().find(|s| s.name == name))
    }

    /// `GET /servers/{id}`.
    pub async fn get_server(&self, id: u64) -> Result<Server, ProviderError> {
        let env: ServerEnvelope = self.get(&["servers", &id.to_string()], &[]).await?;
        Ok(env.server)
    }

    /// `POST /servers`. The server is usable once the returned action (and
    /// `next_actions`) succeeded: see [`HcloudClient::wait_for_actions`].
    pub async fn create_server(
        &self,
        request: &CreateServerRequest,
    ) -> Result<CreatedServer, ProviderError> {
        let body = CreateServerBody::from(request);
        self.send_json(Method::POST, &["servers"], &body).await
    }

    /// Creates a server, waits for its creation actions and returns the
    /// server as it is afterwards (running, with its addresses).
    pub async fn create_server_and_wait(
        &self,
        request: &CreateServerRequest,
    ) -> Result<(Server, Action), ProviderError> {
        let created = self.create_server(request).await?;
        let mut actions = vec![created.action.clone()];
        actions.extend(created.next_actions.iter().cloned());
        let finished = self.wait_for_actions(&actions).await?;
        let server = self.get_server(created.server.id).await?;
        let create_action = finished.into_iter().next().unwrap_or(created.action);
        Ok((server, create_action))
    }

    /// `DELETE /servers/{id}`; returns the `delete_server` action.
    pub async fn delete_server(&self, id: u64) -> Result<Action, ProviderError> {
        let segments = ["servers", &id.to_string()];
        let reply = self.call(Method::DELETE, &segments, &[], None).await?;
        let env: ActionEnvelope = decode(
            PROVIDER,
            &Method::DELETE,
            &endpoint_name(&segments),
            &reply.body,
        )?;
        Ok(env.action)
    }

    /// `PUT /servers/{id}` with `labels`: replaces all labels of the server.
    pub async fn set_server_labels(
        &self,
        id: u64,
        labels: &BTreeMap<String, String>,
    ) -> Result<Server, ProviderError> {
        let body = serde_json::json!({ "labels": labels });
        let env: ServerEnvelope = self
            .send_json(Method::PUT, &["servers", &id.to_string()], &body)
            .await?;
        Ok(env.server)
    }

    /// `POST /servers/{id}/actions/attach_to_network`.
    pub async fn attach_server_to_network(
        &self,
        server_id: u64,
        network_id: u64,
        ip: Option<&str>,
    ) -> Result<Action, ProviderError> {
        let mut body = serde_json::json!({ "network": network_id });
        if let (Some(ip), Some(map)) = (ip, body.as_object_mut()) {
            map.insert("ip".into(), serde_json::Value::String(ip.to_string()));
        }
        let segments = [
            "servers",
            &server_id.to_string(),
            "actions",
            "attach_to_network",
        ];
        let env: ActionEnvelope = self.send_json(Method::POST, &segments, &body).await?;
        Ok(env.action)
    }

    // --- catalogue ------------------------------------------------------

    /// `GET /locations`.
    pub async fn list_locations(&self) -> Result<Vec<Location>, ProviderError> {
        self.list_all(&["locations"], "locations", &[]).await
    }

    /// `GET /server_types`.
    pub async fn list_server_types(&self) -> Result<Vec<ServerType>, ProviderError> {
        self.list_all(&["server_types"], "server_types", &[]).await
    }

    /// `GET /images` with optional filters.
    pub async fn list_images(&self, filter: &ImageQuery) -> Result<Vec<Image>, ProviderError> {
        let query = optional_query(&[
            ("type", filter.kind.as_deref()),
            ("architecture", filter.architecture.as_deref()),
            ("name", filter.name.as_deref()),
            ("label_selector", filter.label_selector.as_deref()),
        ]);
        self.list_all(&["images"], "images", &query).await
    }

    // --- SSH keys -------------------------------------------------------

    /// `GET /ssh_keys`.
    pub async fn list_ssh_keys(&self) -> Result<Vec<SshKey>, ProviderError> {
        self.list_all(&["ssh_keys"], "ssh_keys", &[]).await
    }

    /// `POST /ssh_keys`.
    pub async fn create_ssh_key(
        &self,
        name: &str,
        public_key: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<SshKey, ProviderError> {
        let body = serde_json::json!({ "name": name, "public_key": public_key, "labels": labels });
        let env: SshKeyEnvelope = self.send_json(Method::POST, &["ssh_keys"], &body).await?;
        Ok(env.ssh_key)
    }

    // --- networks, firewalls, volumes ------------------------------------

    /// `GET /networks`.
    pub async fn list_networks(&self) -> Result<Vec<Network>, ProviderError> {
        self.list_all(&["networks"], "networks", &[]).await
    }

    /// `GET /firewalls`.
    pub async fn list_firewalls(&self) -> Result<Vec<Firewall>, ProviderError> {
        self.list_all(&["firewalls"], "firewalls", &[]).await
    }

    /// `POST /firewalls`.
    pub async fn create_firewall(
        &self,
        request: &CreateFirewallRequest,
    ) -> Result<CreatedFirewall, ProviderError> {
        self.send_json(Method::POST, &["firewalls"], request).await
    }

    /// `POST /firewalls/{id}/actions/apply_to_resources`.
    pub async fn apply_firewall(
        &self,
        firewall_id: u64,
        resources: &[FirewallResource],
    ) -> Result<Vec<Action>, ProviderError> {
        let body = serde_json::json!({ "apply_to": resources });
        let segments = [
            "firewalls",
            &firewall_id.to_string(),
            "actions",
            "apply_to_resources",
        ];
        let env: ActionsEnvelope = self.send_json(Method::POST, &segments, &body).await?;
        Ok(env.actions)
    }

    /// `GET /volumes`, optionally filtered by a label selector.
    pub async fn list_volumes(
        &self,
        label_selector: Option<&str>,
    ) -> Result<Vec<Volume>, ProviderError> {
        let query = optional_query(&[("label_selector", label_selector)]);
        self.list_all(&["volumes"], "volumes", &query).await
    }

    // --- actions --------------------------------------------------------

    /// `GET /actions/{id}`.
    pub async fn get_action(&self, id: u64) -> Result<Action, ProviderError> {
        let env: ActionEnvelope = self.get(&["actions", &id.to_string()], &[]).await?;
        Ok(env.action)
    }

    /// Polls `GET /actions/{id}` until the action succeeds (returned) or
    /// fails ([`ProviderError::ActionFailed`]), within the client's
    /// [`PollPolicy`](super::PollPolicy) ([`ProviderError::Timeout`]).
    pub async fn wait_action(&self, id: u64) -> Result<Action, ProviderError> {
        let poll = self.options.poll;
        let polling = self.poll_action(id);
        match tokio::time::timeout(poll.timeout, polling).await {
            Ok(result) => result,
            Err(_) => Err(action_timeout(id, poll.timeout)),
        }
    }

    /// Waits for each action in turn; already finished ones are not polled.
    pub async fn wait_for_actions(&self, actions: &[Action]) -> Result<Vec<Action>, ProviderError> {
        let mut done = Vec::with_capacity(actions.len());
        for action in actions {
            let finished = match action.status.as_str() {
                "success" => action.clone(),
                "error" => return Err(action_failed(action)),
                _ => self.wait_action(action.id).await?,
            };
            done.push(finished);
        }
        Ok(done)
    }

    async fn poll_action(&self, id: u64) -> Result<Action, ProviderError> {
        let poll = self.options.poll;
        let started = Instant::now();
        for _ in 0..poll.max_polls() {
            let action = self.get_action(id).await?;
            match action.status.as_str() {
                "success" => return Ok(action),
                "error" => return Err(action_failed(&action)),
                _ => {}
            }
            if started.elapsed() >= poll.timeout {
                break;
            }
            tokio::time::sleep(poll.interval).await;
        }
        Err(action_timeout(id, poll.timeout))
    }

    // --- plumbing -------------------------------------------------------

    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, ProviderError> {
        let reply = self.call(Method::GET, segments, query, None).await?;
        decode(
            PROVIDER,
            &Method::GET,
            &endpoint_name(segments),
            &reply.body,
        )
    }

    async fn send_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: &B,
    ) -> Result<T, ProviderError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ProviderError::InvalidArgument {
            provider: PROVIDER,
            reason: format!("cannot encode request body: {e}"),
        })?;
        let reply = self
            .call(method.clone(), segments, &[], Some(bytes))
            .await?;
        decode(PROVIDER, &method, &endpoint_name(segments), &reply.body)
    }

    /// Follows `meta.pagination.next_page` until it is null, at most
    /// [`MAX_PAGES`] pages, and collects the array under `key`.
    async fn list_all<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        key: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, ProviderError> {
        let endpoint = endpoint_name(segments);
        let mut items = Vec::new();
        let mut page: u32 = 1;
        for _ in 0..MAX_PAGES {
            let mut page_query = query.to_vec();
            page_query.push(("page", page.to_string()));
            page_query.push(("per_page", PER_PAGE.to_string()));
            let reply = self.call(Method::GET, segments, &page_query, None).await?;
            let (mut page_items, next) = decode_page::<T>(&endpoint, key, &reply.body)?;
            items.append(&mut page_items);
            match next {
                // A next page that does not move forward would loop forever.
                Some(next) if next > page => page = next,
                _ => return Ok(items),
            }
        }
        Err(ProviderError::TooManyPages {
            provider: PROVIDER,
            endpoint,
            limit: MAX_PAGES,
        })
    }

    /// Sends one request, retrying 429 answers within the retry policy,
    /// and turns error statuses into [`ProviderError::Http`].
    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, ProviderError> {
        let url = build_url(PROVIDER, &self.endpoint, segments, query)?;
        let endpoint = endpoint_name(segments);
        let retry = self.options.retry;
        let mut retries = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.as_str())
                .bearer_auth(self.token.expose());
            if let Some(bytes) = &body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(bytes.clone());
            }
            let reply = self.http.execute(&method, &endpoint, request).await?;
            if reply.status != StatusCode::TOO_MANY_REQUESTS {
                return check_status(&method, &endpoint, reply);
            }
            if retries >= retry.max_retries {
                return Err(rate_limited(&method, &endpoint, retries, &reply));
            }
            let wait = rate_limit_wait(&reply, retry.max_wait, retry.fallback_wait);
            tracing::warn!(
                provider = PROVIDER,
                %method,
                endpoint = endpoint.as_str(),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                remaining = reply.header("RateLimit-Remaining").as_deref(),
                "rate limited; waiting for the limit to reset"
            );
            tokio::time::sleep(wait).await;
            retries += 1;
        }
    }
}

fn optional_query<'a>(pairs: &[(&'a str, Option<&str>)]) -> Vec<(&'a str, String)> {
    pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| (*k, v.to_string())))
        .collect()
}

/// Splits one list page into its items and the next page number.
fn decode_page<T: DeserializeOwned>(
    endpoint: &str,
    key: &str,
    body: &[u8],
) -> Result<(Vec<T>, Option<u32>), ProviderError> {
    let decode_error = |source| ProviderError::Decode {
        provider: PROVIDER,
        method: "GET".into(),
        endpoint: endpoint.to_string(),
        source,
    };
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(decode_error)?;
    let items = value
        .get_mut(key)
        .map(serde_json::Value::take)
        .ok_or_else(|| decode_error(serde::de::Error::custom(format!("missing field `{key}`"))))?;
    let items: Vec<T> = serde_json::from_value(items).map_err(decode_error)?;
    let meta: Meta = match value.get_mut("meta") {
        Some(meta) => serde_json::from_value(meta.take()).map_err(decode_error)?,
        None => Meta::default(),
    };
    Ok((items, meta.pagination.and_then(|p| p.next_page)))
}

/// Passes 2xx replies through and turns anything else into an error with
/// Hetzner's code, message, details and correlation id.
fn check_status(method: &Method, endpoint: &str, reply: Reply) -> Result<Reply, ProviderError> {
    if reply.status.is_success() {
        return Ok(reply);
    }
    let parsed: Option<ErrorEnvelope> = serde_json::from_slice(&reply.body).ok();
    let (code, message, details) = match parsed {
        Some(env) => (Some(env.error.code), env.error.message, env.error.details),
        None => (None, reply.body_excerpt(), None),
    };
    Err(ProviderError::from(ApiError {
        provider: PROVIDER,
        method: method.to_string(),
        endpoint: endpoint.to_string(),
        status: reply.status.as_u16(),
        code,
        message,
        details,
        request_id: reply.header(CORRELATION_HEADER),
    }))
}

fn rate_limited(method: &Method, endpoint: &str, retries: u32, reply: &Reply) -> ProviderError {
    let message = serde_json::from_slice::<ErrorEnvelope>(&reply.body)
        .map(|env| env.error.message)
        .unwrap_or_else(|_| reply.body_excerpt());
    ProviderError::from(RateLimitError {
        provider: PROVIDER,
        method: method.to_string(),
        endpoint: endpoint.to_string(),
        retries,
        message,
        reset_at: reply
            .header("RateLimit-Reset")
            .and_then(|v| v.trim().parse().ok()),
        request_id: reply.header(CORRELATION_HEADER),
    })
}

/// How long to wait before retrying a 429: until `RateLimit-Reset` (Unix
/// seconds), capped at `max_wait`; `fallback` when the header is missing.
fn rate_limit_wait(reply: &Reply, max_wait: Duration, fallback: Duration) -> Duration {
    let reset = reply
        .header("RateLimit-Reset")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let wait = match reset {
        Some(reset) => {
            let reset_at = std::time::UNIX_EPOCH + Duration::from_secs(reset);
            reset_at
                .duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO)
        }
        None => fallback,
    };
    wait.min(max_wait)
}

fn action_failed(action: &Action) -> ProviderError {
    let (code, message) = match &action.error {
        Some(e) => (e.code.clone(), e.message.clone()),
        None => (
            "unknown".to_string(),
            "the action ended in error".to_string(),
        ),
    };
    ProviderError::ActionFailed {
        provider: PROVIDER,
        id: action.id,
        command: action.command.clone(),
        code,
        message,
    }
}

fn action_timeout(id: u64, after: Duration) -> ProviderError {
    ProviderError::Timeout {
        provider: PROVIDER,
        what: format!("action {id}"),
        after,
    }
}

// ---------------------------------------------------------------------------
// Provider trait
// ---------------------------------------------------------------------------

impl From<&Server> for ProviderServer {
    fn from(s: &Server) -> Self {
        let raw_location = s.location_name().unwrap_or_default().to_string();
        ProviderServer {
            provider: ProviderKind::Hetzner,
            kind: ServerKind::Cloud,
            id: s.id.to_string(),
            name: s.name.clone(),
            ipv4: s.ipv4(),
            ipv6: s.public_net.ipv6.as_ref().map(|v6| v6.ip.clone()),
            private_ips: s
                .private_net
                .iter()
                .filter_map(|p| p.ip.parse::<IpAddr>().ok())
                .collect(),
            location: normalise_hcloud_location(&raw_location),
            location_raw: raw_location,
            labels: s.labels.clone(),
            status: s.status.clone(),
            plan: Some(s.server_type.name.clone()),
            project: None,
        }
    }
}

impl Provider for HcloudClient {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn list_servers(
        &self,
        label_selector: Option<&str>,
    ) -> Result<Vec<ProviderServer>, ProviderError> {
        let servers = self.list_cloud_servers(label_selector).await?;
        Ok(servers.iter().map(ProviderServer::from).collect())
    }

    async fn find_server(&self, name: &str) -> Result<Option<ProviderServer>, ProviderError> {
        let server = self.get_server_by_name(name).await?;
        Ok(server.as_ref().map(ProviderServer::from))
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::test_lookup as lookup;
    use super::*;

    #[test]
    fn token_is_required_and_named() {
        let err = HcloudConfig::from_lookup(&lookup(&[])).err();
        assert!(matches!(
            err,
            Some(ProviderError::MissingCredential {
                var: "HCLOUD_TOKEN",
                ..
            })
        ));
    }

    #[test]
    fn endpoint_defaults_and_overrides_like_hcloud_go() {
        let default =
            HcloudConfig::from_lookup(&lookup(&[("HCLOUD_TOKEN", "t")])).map(|c| c.endpoint);
        assert_eq!(default.ok().as_deref(), Some(DEFAULT_ENDPOINT));

        // hcloud-go trims trailing slashes and keeps the version path.
        let custom = HcloudConfig::from_lookup(&lookup(&[
            ("HCLOUD_TOKEN", "t"),
            ("HCLOUD_ENDPOINT", "http://127.0.0.1:4000/v1//"),
        ]))
        .map(|c| c.endpoint);
        assert_eq!(custom.ok().as_deref(), Some("http://127.0.0.1:4000/v1"));

        // An empty override means the default, as in the hcloud CLI.
        let empty =
            HcloudConfig::from_lookup(&lookup(&[("HCLOUD_TOKEN", "t"), ("HCLOUD_ENDPOINT", "")]))
                .map(|c| c.endpoint);
        assert_eq!(empty.ok().as_deref(), Some(DEFAULT_ENDPOINT));

        let bad = HcloudConfig::from_lookup(&lookup(&[
            ("HCLOUD_TOKEN", "t"),
            ("HCLOUD_ENDPOINT", "not a url"),
        ]));
        assert!(matches!(bad, Err(ProviderError::InvalidConfig { .. })));
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let config = HcloudConfig::new(Secret::new("hc-secret-token-value"));
        let config_debug = format!("{config:?}");
        assert!(
            !config_debug.contains("hc-secret-token-value"),
            "{config_debug}"
        );
        let client = HcloudClient::new(config).map(|c| format!("{c:?}"));
        let client_debug = client.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !client_debug.contains("hc-secret-token-value"),
            "{client_debug}"
        );
    }

    #[test]
    fn create_body_has_the_documented_shape() {
        let request = CreateServerRequest {
            name: "web-1".into(),
            server_type: "cx22".into(),
            image: "debian-12".into(),
            location: Some("fsn1".into()),
            ssh_keys: vec![IdOrName::from("ops"), IdOrName::from(7)],
            networks: vec![11],
            firewalls: vec![38],
            labels: BTreeMap::from([("env".to_string(), "prod".to_string())]),
            user_data: None,
            start_after_create: Some(true),
        };
        let body = serde_json::to_value(CreateServerBody::from(&request)).ok();
        let want = serde_json::json!({
            "name": "web-1",
            "server_type": "cx22",
            "image": "debian-12",
            "location": "fsn1",
            "ssh_keys": ["ops", 7],
            "networks": [11],
            "firewalls": [{"firewall": 38}],
            "labels": {"env": "prod"},
            "start_after_create": true
        });
        assert_eq!(body, Some(want));
    }

    #[test]
    fn rate_limit_wait_is_capped_and_has_a_fallback() {
        let reply = |reset: Option<String>| {
            let mut headers = reqwest::header::HeaderMap::new();
            if let Some(r) = reset {
                if let Ok(v) = r.parse() {
                    headers.insert("RateLimit-Reset", v);
                }
            }
            Reply {
                status: StatusCode::TOO_MANY_REQUESTS,
                headers,
                body: vec![],
            }
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let far = (now + 3600).to_string();
        let max = Duration::from_secs(2);
        let fallback = Duration::from_millis(10);
        assert_eq!(rate_limit_wait(&reply(Some(far)), max, fallback), max);
        assert_eq!(rate_limit_wait(&reply(None), max, fallback), fallback);
        assert_eq!(
            rate_limit_wait(&reply(Some("0".into())), max, fallback),
            Duration::ZERO
        );
    }
}

provider_builders!(HcloudConfig, HcloudClient, endpoint);
