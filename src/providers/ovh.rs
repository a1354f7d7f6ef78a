//! OVHcloud API client: dedicated servers and Public Cloud instances.
//!
//! Authentication follows OVH's application-key scheme, configured the
//! same way as the official clients (python-ovh, go-ovh):
//! `OVH_APPLICATION_KEY`, `OVH_APPLICATION_SECRET`, `OVH_CONSUMER_KEY`, and
//! `OVH_ENDPOINT`, which is either a short name (`ovh-eu`, `ovh-ca`,
//! `ovh-us`, `kimsufi-eu`, ...) or, when it contains a `/`, a full URL.
//!
//! Every authenticated request carries `X-Ovh-Application`,
//! `X-Ovh-Consumer`, `X-Ovh-Timestamp` and
//! `X-Ovh-Signature = "$1$" + hex(sha1(AS+"+"+CK+"+"+METHOD+"+"+URL+"+"+BODY+"+"+TS))`,
//! where URL is the full URL sent (query included) and TS is the local
//! clock corrected by its offset to `GET /auth/time`, fetched once per
//! client. Errors are `{"class", "message"}` with an `X-Ovh-QueryId`
//! header identifying the request.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::{HeaderValue, ACCEPT};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use tokio::sync::OnceCell;

use super::config::{
    lookup_nonempty, normalise_endpoint, process_env, provider_builders, EnvLookup, HttpOptions,
    Secret,
};
use super::error::{ApiError, ProviderError};
use super::http::{build_url, decode, endpoint_name, unix_now, Reply, Transport};
use super::{filter_by_selector, Provider, ProviderKind, ProviderServer, ServerKind};
use crate::sites::{normalise_ovh_datacenter, normalise_ovh_region};

const PROVIDER: &str = "ovh";
pub const ENV_APPLICATION_KEY: &str = "OVH_APPLICATION_KEY";
pub const ENV_APPLICATION_SECRET: &str = "OVH_APPLICATION_SECRET";
pub const ENV_CONSUMER_KEY: &str = "OVH_CONSUMER_KEY";
pub const ENV_ENDPOINT: &str = "OVH_ENDPOINT";
/// Endpoint used when `OVH_ENDPOINT` is unset, as in the official clients.
pub const DEFAULT_ENDPOINT_NAME: &str = "ovh-eu";
/// Header carrying OVH's request id.
pub const QUERY_ID_HEADER: &str = "X-Ovh-QueryId";

/// Short endpoint names and their URLs, as in python-ovh.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("ovh-eu", "https://eu.api.ovh.com/1.0"),
    ("ovh-ca", "https://ca.api.ovh.com/1.0"),
    ("ovh-us", "https://api.us.ovhcloud.com/1.0"),
    ("kimsufi-eu", "https://eu.api.kimsufi.com/1.0"),
    ("kimsufi-ca", "https://ca.api.kimsufi.com/1.0"),
    ("soyoustart-eu", "https://eu.api.soyoustart.com/1.0"),
    ("soyoustart-ca", "https://ca.api.soyoustart.com/1.0"),
];

/// How many dedicated-server detail requests run at once: enough to make
/// big accounts fast, few enough to stay far from OVH's rate limits.
const DETAIL_CONCURRENCY: usize = 4;

/// Resolves `OVH_ENDPOINT`: a value containing `/` is a URL, anything else
/// must be one of the short names in [`ENDPOINTS`].
pub fn resolve_endpoint(name_or_url: &str) -> Result<String, ProviderError> {
    let value = name_or_url.trim();
    if value.contains('/') {
        return normalise_endpoint(PROVIDER, ENV_ENDPOINT, value);
    }
    ENDPOINTS
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, url)| url.to_string())
        .ok_or_else(|| ProviderError::InvalidConfig {
            provider: PROVIDER,
            var: ENV_ENDPOINT.to_string(),
            reason: format!(
                "unknown endpoint {value:?}: use one of {} or a URL",
                ENDPOINTS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// `"$1$" + hex(sha1(secret+"+"+consumer_key+"+"+METHOD+"+"+url+"+"+body+"+"+timestamp))`.
pub(crate) fn signature(
    application_secret: &str,
    consumer_key: &str,
    method: &str,
    url: &str,
    body: &str,
    timestamp: i64,
) -> String {
    let mut hasher = Sha1::new();
    hasher.update(
        format!("{application_secret}+{consumer_key}+{method}+{url}+{body}+{timestamp}").as_bytes(),
    );
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("$1${hex}")
}

/// Everything needed to build an [`OvhClient`].
#[derive(Clone)]
pub struct OvhConfig {
    /// Resolved base URL, e.g. `https://eu.api.ovh.com/1.0`.
    pub endpoint: String,
    pub application_key: Secret,
    pub application_secret: Secret,
    pub consumer_key: Secret,
    pub http: HttpOptions,
}

impl fmt::Debug for OvhConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OvhConfig")
            .field("endpoint", &self.endpoint)
            .field("application_key", &"***")
            .field("application_secret", &"***")
            .field("consumer_key", &"***")
            .field("http", &self.http)
            .finish()
    }
}

impl OvhConfig {
    /// A config for `endpoint` (short name or URL).
    pub fn new(
        endpoint: &str,
        application_key: Secret,
        application_secret: Secret,
        consumer_key: Secret,
    ) -> Result<Self, ProviderError> {
        Ok(OvhConfig {
            endpoint: resolve_endpoint(endpoint)?,
            application_key,
            application_secret,
            consumer_key,
            http: HttpOptions::default(),
        })
    }

    pub fn from_lookup(lookup: EnvLookup<'_>) -> Result<Self, ProviderError> {
        let required = |var: &'static str| {
            lookup_nonempty(lookup, var)
                .map(Secret::new)
                .ok_or(ProviderError::MissingCredential {
                    provider: PROVIDER,
                    var,
                })
        };
        let application_key = required(ENV_APPLICATION_KEY)?;
        let application_secret = required(ENV_APPLICATION_SECRET)?;
        let consumer_key = required(ENV_CONSUMER_KEY)?;
        let endpoint = lookup_nonempty(lookup, ENV_ENDPOINT)
            .unwrap_or_else(|| DEFAULT_ENDPOINT_NAME.to_string());
        OvhConfig::new(&endpoint, application_key, application_secret, consumer_key)
    }

    /// True when any of the three credential variables is set.
    pub fn is_configured(lookup: EnvLookup<'_>) -> bool {
        [
            ENV_APPLICATION_KEY,
            ENV_APPLICATION_SECRET,
            ENV_CONSUMER_KEY,
        ]
        .iter()
        .any(|var| lookup_nonempty(lookup, var).is_some())
    }
}

/// Client for the OVHcloud API. Clones share the `/auth/time` offset.
#[derive(Clone)]
pub struct OvhClient {
    endpoint: String,
    application_key: Secret,
    application_secret: Secret,
    consumer_key: Secret,
    http: Transport,
    /// Server time minus local time, in seconds; fetched on first use.
    time_delta: Arc<OnceCell<i64>>,
}

impl fmt::Debug for OvhClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OvhClient")
            .field("endpoint", &self.endpoint)
            .field("credentials", &"***")
            .field("time_delta", &self.time_delta.get())
            .finish_non_exhaustive()
    }
}

/// A dedicated server (`GET /dedicated/server/{serviceName}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DedicatedServer {
    /// Service name, e.g. `ns3012345.ip-51-68-1.eu`.
    pub name: String,
    #[serde(default)]
    pub server_id: Option<u64>,
    #[serde(default)]
    pub ip: Option<String>,
    /// Data centre, e.g. `gra3`, `sbg1`, `rbx8`, `bhs2`.
    pub datacenter: String,
    #[serde(default)]
    pub commercial_range: Option<String>,
    /// `ok`, `error`, `hacked`, `hackedBlocked`.
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub power_state: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub reverse: Option<String>,
    #[serde(default)]
    pub rack: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub professional_use: Option<bool>,
    #[serde(default)]
    pub monitoring: Option<bool>,
    #[serde(default)]
    pub iam: Option<Iam>,
}

/// IAM metadata; `display_name` is the name shown in the control panel.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Iam {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub urn: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A Public Cloud instance (`GET /cloud/project/{id}/instance`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudInstance {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub ip_addresses: Vec<InstanceIp>,
    /// Region, e.g. `GRA11`, `SBG5`, `DE1`, `UK1`, `WAW1`, `BHS5`.
    pub region: String,
    /// `ACTIVE`, `BUILD`, `SHUTOFF`, `ERROR`...
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub flavor_id: Option<String>,
    #[serde(default)]
    pub image_id: Option<String>,
    #[serde(default)]
    pub plan_code: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceIp {
    pub ip: String,
    /// 4 or 6.
    pub version: u8,
    /// `public` or `private`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub network_id: Option<String>,
    #[serde(default)]
    pub gateway_ip: Option<String>,
}

impl CloudInstance {
    fn public_ip(&self, version: u8) -> Option<&str> {
        self.ip_addresses
            .iter()
            .find(|a| a.version == version && a.kind == "public")
            .map(|a| a.ip.as_str())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OvhApiError {
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl OvhClient {
    pub fn new(config: OvhConfig) -> Result<Self, ProviderError> {
        let http = Transport::new(PROVIDER, &config.http)?;
        Ok(OvhClient {
            endpoint: config.endpoint,
            application_key: config.application_key,
            application_secret: config.application_secret,
            consumer_key: config.consumer_key,
            http,
            time_delta: Arc::new(OnceCell::new()),
        })
    }

    /// `GET /auth/time`: the API's clock, in Unix seconds (unauthenticated).
    pub async fn auth_time(&self) -> Result<i64, ProviderError> {
        let segments = ["auth", "time"];
        let url = build_url(PROVIDER, &self.endpoint, &segments, &[])?;
        let endpoint = endpoint_name(&segments);
        let request = self
            .http
            .request(Method::GET, url.as_str())
            .header(ACCEPT, "application/json");
        let reply = self.http.execute(&Method::GET, &endpoint, request).await?;
        let reply = check_status(&Method::GET, &endpoint, reply)?;
        decode(PROVIDER, &Method::GET, &endpoint, &reply.body)
    }

    /// Offset of the API clock to ours, fetched once per client.
    pub async fn time_delta(&self) -> Result<i64, ProviderError> {
        let delta = self
            .time_delta
            .get_or_try_init(|| async {
                let server = self.auth_time().await?;
                let delta = server - unix_now();
                tracing::debug!(provider = PROVIDER, delta, "OVH clock offset");
                Ok::<i64, ProviderError>(delta)
            })
            .await?;
        Ok(*delta)
    }

    /// `GET /dedicated/server`: service names of the dedicated servers.
    pub async fn list_dedicated_servers(&self) -> Result<Vec<String>, ProviderError> {
        self.get(&["dedicated", "server"]).await
    }

    /// `GET /dedicated/server/{serviceName}`.
    pub async fn get_dedicated_server(&self, name: &str) -> Result<DedicatedServer, ProviderError> {
        self.get(&["dedicated", "server", name]).await
    }

    /// `GET /cloud/project`: ids of the Public Cloud projects.
    pub async fn list_cloud_projects(&self) -> Result<Vec<String>, ProviderError> {
        self.get(&["cloud", "project"]).await
    }

    /// `GET /cloud/project/{serviceName}/instance`.
    pub async fn list_cloud_instances(
        &self,
        project: &str,
    ) -> Result<Vec<CloudInstance>, ProviderError> {
        self.get(&["cloud", "project", project, "instance"]).await
    }

    /// Every dedicated server with its details.
    pub async fn dedicated_servers(&self) -> Result<Vec<DedicatedServer>, ProviderError> {
        let names = self.list_dedicated_servers().await?;
        stream::iter(names)
            .map(|name| async move { self.get_dedicated_server(&name).await })
            .buffered(DETAIL_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Every instance of every Public Cloud project, with its project id.
    pub async fn cloud_instances(&self) -> Result<Vec<(String, CloudInstance)>, ProviderError> {
        let mut all = Vec::new();
        for project in self.list_cloud_projects().await? {
            let instances = self.list_cloud_instances(&project).await?;
            all.extend(instances.into_iter().map(|i| (project.clone(), i)));
        }
        Ok(all)
    }

    /// A signed GET.
    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ProviderError> {
        let reply = self.signed_get(segments).await?;
        decode(
            PROVIDER,
            &Method::GET,
            &endpoint_name(segments),
            &reply.body,
        )
    }

    /// Sends a signed GET. The URL signed is the exact URL sent; a GET has
    /// no body, so the body part of the signature is empty.
    async fn signed_get(&self, segments: &[&str]) -> Result<Reply, ProviderError> {
        let method = Method::GET;
        let url = build_url(PROVIDER, &self.endpoint, segments, &[])?;
        let endpoint = endpoint_name(segments);
        let timestamp = unix_now() + self.time_delta().await?;
        let sig = signature(
            self.application_secret.expose(),
            self.consumer_key.expose(),
            method.as_str(),
            url.as_str(),
            "",
            timestamp,
        );
        let request = self
            .http
            .request(method.clone(), url.as_str())
            .header(ACCEPT, "application/json")
            .header(
                "X-Ovh-Application",
                sensitive(self.application_key.expose())?,
            )
            .header("X-Ovh-Consumer", sensitive(self.consumer_key.expose())?)
            .header("X-Ovh-Timestamp", timestamp.to_string())
            .header("X-Ovh-Signature", sensitive(&sig)?);
        let reply = self.http.execute(&method, &endpoint, request).await?;
        check_status(&method, &endpoint, reply)
    }
}

/// A header value marked sensitive, so `reqwest`'s own `Debug` output of a
/// request never shows it.
fn sensitive(value: &str) -> Result<HeaderValue, ProviderError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| ProviderError::InvalidConfig {
        provider: PROVIDER,
        var: "credentials".to_string(),
        reason: "a credential contains characters not allowed in an HTTP header".to_string(),
    })?;
    header.set_sensitive(true);
    Ok(header)
}

fn check_status(method: &Method, endpoint: &str, reply: Reply) -> Result<Reply, ProviderError> {
    if reply.status.is_success() {
        return Ok(reply);
    }
    let parsed = serde_json::from_slice::<OvhApiError>(&reply.body).ok();
    let (code, message) = match parsed {
        Some(e) => (
            e.error_code.or(e.class),
            e.message.unwrap_or_else(|| reply.body_excerpt()),
        ),
        None => (None, reply.body_excerpt()),
    };
    Err(ProviderError::from(ApiError {
        provider: PROVIDER,
        method: method.to_string(),
        endpoint: endpoint.to_string(),
        status: reply.status.as_u16(),
        code,
        message,
        details: None,
        request_id: reply.header(QUERY_ID_HEADER),
    }))
}

impl From<&DedicatedServer> for ProviderServer {
    fn from(s: &DedicatedServer) -> Self {
        let display = s
            .iam
            .as_ref()
            .and_then(|iam| iam.display_name.clone())
            .filter(|n| !n.is_empty());
        ProviderServer {
            provider: ProviderKind::Ovh,
            kind: ServerKind::Dedicated,
            id: s.name.clone(),
            name: display.unwrap_or_else(|| s.name.clone()),
            ipv4: s.ip.as_deref().and_then(|ip| ip.parse::<Ipv4Addr>().ok()),
            ipv6: None,
            private_ips: Vec::new(),
            location: normalise_ovh_datacenter(&s.datacenter),
            location_raw: s.datacenter.clone(),
            labels: Default::default(),
            status: s.state.clone(),
            plan: s.commercial_range.clone(),
            project: None,
        }
    }
}

fn instance_to_server(project: &str, i: &CloudInstance) -> ProviderServer {
    ProviderServer {
        provider: ProviderKind::Ovh,
        kind: ServerKind::Cloud,
        id: i.id.clone(),
        name: i.name.clone(),
        ipv4: i.public_ip(4).and_then(|ip| ip.parse::<Ipv4Addr>().ok()),
        ipv6: i.public_ip(6).map(str::to_string),
        private_ips: i
            .ip_addresses
            .iter()
            .filter(|a| a.kind == "private")
            .filter_map(|a| a.ip.parse::<IpAddr>().ok())
            .collect(),
        location: normalise_ovh_region(&i.region),
        location_raw: i.region.clone(),
        labels: Default::default(),
        status: i.status.clone(),
        plan: i.plan_code.clone().or_else(|| i.flavor_id.clone()),
        project: Some(project.to_string()),
    }
}

impl OvhClient {
    async fn all_servers(&self) -> Result<Vec<ProviderServer>, ProviderError> {
        let mut servers: Vec<ProviderServer> = self
            .dedicated_servers()
            .await?
            .iter()
            .map(ProviderServer::from)
            .collect();
        servers.extend(
            self.cloud_instances()
                .await?
                .iter()
                .map(|(project, instance)| instance_to_server(project, instance)),
        );
        Ok(servers)
    }
}

impl Provider for OvhClient {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn list_servers(
        &self,
        label_selector: Option<&str>,
    ) -> Result<Vec<ProviderServer>, ProviderError> {
        let servers = self.all_servers().await?;
        filter_by_selector(PROVIDER, servers, label_selector)
    }

    /// Matches the display name, the service name or the instance id.
    async fn find_server(&self, name: &str) -> Result<Option<ProviderServer>, ProviderError> {
        let servers = self.all_servers().await?;
        Ok(servers.into_iter().find(|s| s.name == name || s.id == name))
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::test_lookup as lookup;
    use super::*;

    const CREDS: [(&str, &str); 3] = [
        ("OVH_APPLICATION_KEY", "ak"),
        ("OVH_APPLICATION_SECRET", "as"),
        ("OVH_CONSUMER_KEY", "ck"),
    ];

    #[test]
    fn short_endpoint_names_resolve() {
        assert_eq!(
            resolve_endpoint("ovh-eu").ok().as_deref(),
            Some("https://eu.api.ovh.com/1.0")
        );
        assert_eq!(
            resolve_endpoint("ovh-ca").ok().as_deref(),
            Some("https://ca.api.ovh.com/1.0")
        );
        assert_eq!(
            resolve_endpoint("ovh-us").ok().as_deref(),
            Some("https://api.us.ovhcloud.com/1.0")
        );
        assert!(matches!(
            resolve_endpoint("ovh-mars"),
            Err(ProviderError::InvalidConfig { .. })
        ));
    }

    #[test]
    fn url_endpoints_are_used_as_given() {
        assert_eq!(
            resolve_endpoint("http://127.0.0.1:8080/1.0/")
                .ok()
                .as_deref(),
            Some("http://127.0.0.1:8080/1.0")
        );
    }

    #[test]
    fn env_defaults_to_ovh_eu() {
        static VARS: [(&str, &str); 3] = CREDS;
        let config = OvhConfig::from_lookup(&lookup(&VARS)).map(|c| c.endpoint);
        assert_eq!(config.ok().as_deref(), Some("https://eu.api.ovh.com/1.0"));
    }

    #[test]
    fn env_endpoint_short_name_and_url() {
        static CA: [(&str, &str); 4] = [CREDS[0], CREDS[1], CREDS[2], ("OVH_ENDPOINT", "ovh-ca")];
        let ca = OvhConfig::from_lookup(&lookup(&CA)).map(|c| c.endpoint);
        assert_eq!(ca.ok().as_deref(), Some("https://ca.api.ovh.com/1.0"));

        static URL: [(&str, &str); 4] = [
            CREDS[0],
            CREDS[1],
            CREDS[2],
            ("OVH_ENDPOINT", "http://127.0.0.1:9999/1.0"),
        ];
        let url = OvhConfig::from_lookup(&lookup(&URL)).map(|c| c.endpoint);
        assert_eq!(url.ok().as_deref(), Some("http://127.0.0.1:9999/1.0"));
    }

    #[test]
    fn each_missing_credential_is_named() {
        static NO_CK: [(&str, &str); 2] = [CREDS[0], CREDS[1]];
        assert!(matches!(
            OvhConfig::from_lookup(&lookup(&NO_CK)),
            Err(ProviderError::MissingCredential {
                var: "OVH_CONSUMER_KEY",
                ..
            })
        ));
        static NO_AK: [(&str, &str); 2] = [CREDS[1], CREDS[2]];
        assert!(matches!(
            OvhConfig::from_lookup(&lookup(&NO_AK)),
            Err(ProviderError::MissingCredential {
                var: "OVH_APPLICATION_KEY",
                ..
            })
        ));
    }

    #[test]
    fn signature_matches_a_reference_value() {
        // Reference computed independently:
        // printf '%s' 'secret+consumer+GET+https://eu.api.ovh.com/1.0/dedicated/server++1700000000' | sha1sum
        let sig = signature(
            "secret",
            "consumer",
            "GET",
            "https://eu.api.ovh.com/1.0/dedicated/server",
            "",
            1_700_000_000,
        );
        assert_eq!(sig, format!("$1${}", REFERENCE_SHA1));

        // The body is signed verbatim.
        // printf '%s' 'secret+consumer+POST+https://eu.api.ovh.com/1.0/cloud/project/p1/instance/i1/reboot+{"type":"soft"}+1700000000' | sha1sum
        let with_body = signature(
            "secret",
            "consumer",
            "POST",
            "https://eu.api.ovh.com/1.0/cloud/project/p1/instance/i1/reboot",
            r#"{"type":"soft"}"#,
            1_700_000_000,
        );
        assert_eq!(with_body, "$1$08e69b7c2f8c16a6e37160c8c0268713da4140f8");
    }

    const REFERENCE_SHA1: &str = "7b9b0caab25b00e121d469de834ac29007094142";

    #[test]
    fn debug_output_never_shows_credentials() {
        let config = OvhConfig::new(
            "ovh-eu",
            Secret::new("app-key-value"),
            Secret::new("app-secret-value"),
            Secret::new("consumer-key-value"),
        );
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        let text = format!("{config:?}");
        for secret in ["app-key-value", "app-secret-value", "consumer-key-value"] {
            assert!(!text.contains(secret), "{text}");
        }
        let client = OvhClient::new(config).map(|c| format!("{c:?}"));
        let text = client.unwrap_or_else(|e| panic!("{e}"));
        for secret in ["app-key-value", "app-secret-value", "consumer-key-value"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

provider_builders!(OvhConfig, OvhClient);
