//! OVHcloud client against a local mock that checks request signatures the
//! way the OVH API does.

use std::net::Ipv4Addr;

use rampart::providers::ovh::{OvhClient, OvhConfig};
use rampart::providers::{Provider, ProviderError, ProviderKind, Secret, ServerKind};
use sha1::{Digest, Sha1};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{env, fast_http, fixture, status_fixture, unix_now, CapturedLogs};

const APP_KEY: &str = "ovh-ak-7Qw2";
const APP_SECRET: &str = "ovh-as-Zx81mN";
const CONSUMER_KEY: &str = "ovh-ck-Pq55vR";
/// The mock API's clock runs this many seconds ahead of ours, so only a
/// client that applies the `/auth/time` offset produces valid timestamps.
const SERVER_SKEW: i64 = 1000;
/// Tolerance of the timestamp check, in seconds.
const TIMESTAMP_TOLERANCE: i64 = 5;

/// Answers like the OVH API: recomputes `X-Ovh-Signature` from the request
/// as received (method, full URL from the Host header and path, body,
/// timestamp) and rejects anything that does not match, or whose timestamp
/// is off the API clock, before serving `inner`.
struct SignedApi {
    inner: ResponseTemplate,
}

impl SignedApi {
    fn new(inner: ResponseTemplate) -> Self {
        SignedApi { inner }
    }

    fn rejection(reason: &str) -> ResponseTemplate {
        let mut body = fixture("ovh/error_invalid_signature.json");
        if let Some(obj) = body.as_object_mut() {
            obj.insert(
                "message".into(),
                serde_json::Value::String(format!("Invalid signature ({reason})")),
            );
        }
        ResponseTemplate::new(400)
            .set_body_json(body)
            .insert_header("X-Ovh-QueryId", "EU.ext-4.sig-check")
    }

    fn check(request: &Request) -> Result<(), String> {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .ok_or(format!("missing {name}"))
        };
        if header("X-Ovh-Application")? != APP_KEY {
            return Err("unknown application key".into());
        }
        if header("X-Ovh-Consumer")? != CONSUMER_KEY {
            return Err("unknown consumer key".into());
        }
        let timestamp: i64 = header("X-Ovh-Timestamp")?
            .parse()
            .map_err(|_| "timestamp is not a number".to_string())?;
        let server_now = unix_now() + SERVER_SKEW;
        if (timestamp - server_now).abs() > TIMESTAMP_TOLERANCE {
            return Err(format!(
                "timestamp {timestamp} is off the API clock {server_now}"
            ));
        }
        // The URL as the client addressed it: scheme, Host header, path, query.
        let host = header("host")?;
        let mut url = format!("http://{host}{}", request.url.path());
        if let Some(query) = request.url.query() {
            url.push('?');
            url.push_str(query);
        }
        let body =
            String::from_utf8(request.body.clone()).map_err(|_| "body is not UTF-8".to_string())?;
        let pre_hash = format!(
            "{APP_SECRET}+{CONSUMER_KEY}+{}+{url}+{body}+{timestamp}",
            request.method.as_str()
        );
        let digest = Sha1::digest(pre_hash.as_bytes());
        let expected = format!(
            "$1${}",
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        if header("X-Ovh-Signature")? != expected {
            return Err("signature mismatch".into());
        }
        Ok(())
    }
}

impl Respond for SignedApi {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match Self::check(request) {
            Ok(()) => self.inner.clone(),
            Err(reason) => Self::rejection(&reason),
        }
    }
}

async fn mount_auth_time(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/1.0/auth/time"))
        .respond_with(ResponseTemplate::new(200).set_body_json(unix_now() + SERVER_SKEW))
        // Fetched once per client, however many calls follow.
        .expect(1)
        .mount(server)
        .await;
}

async fn mount_signed(server: &MockServer, p: &str, fixture_file: &str) {
    Mock::given(method("GET"))
        .and(path(p))
        .respond_with(SignedApi::new(
            ResponseTemplate::new(200)
                .set_body_json(fixture(fixture_file))
                .insert_header("X-Ovh-QueryId", "EU.ext-4.ok"),
        ))
        .mount(server)
        .await;
}

async fn mount_account(server: &MockServer) {
    mount_auth_time(server).await;
    mount_signed(
        server,
        "/1.0/dedicated/server",
        "ovh/dedicated_servers.json",
    )
    .await;
    mount_signed(
        server,
        "/1.0/dedicated/server/ns3001234.ip-203-0-113.eu",
        "ovh/dedicated_server_ns3001234.json",
    )
    .await;
    mount_signed(
        server,
        "/1.0/dedicated/server/ns3005678.ip-198-51-100.eu",
        "ovh/dedicated_server_ns3005678.json",
    )
    .await;
    mount_signed(server, "/1.0/cloud/project", "ovh/cloud_projects.json").await;
    mount_signed(
        server,
        "/1.0/cloud/project/5f8a3c2e9b1d4e7fa0b2c4d6e8f01234/instance",
        "ovh/cloud_instances.json",
    )
    .await;
}

fn client_with(server: &MockServer, secret: &str) -> OvhClient {
    let config = OvhConfig::new(
        &format!("{}/1.0", server.uri()),
        Secret::new(APP_KEY),
        Secret::new(secret),
        Secret::new(CONSUMER_KEY),
    )
    .map(|c| c.with_http(fast_http()))
    .unwrap_or_else(|e| panic!("{e}"));
    OvhClient::new(config).unwrap_or_else(|e| panic!("{e}"))
}

fn client(server: &MockServer) -> OvhClient {
    client_with(server, APP_SECRET)
}

fn ok<T>(r: Result<T, ProviderError>) -> T {
    r.unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

#[tokio::test]
async fn time_delta_is_fetched_once_and_applied() {
    let server = MockServer::start().await;
    mount_account(&server).await;
    let ovh = client(&server);

    let delta = ok(ovh.time_delta().await);
    assert!((delta - SERVER_SKEW).abs() <= 2, "delta {delta}");
    // Several signed calls; the mock's `expect(1)` on /auth/time checks
    // that the offset is not fetched again.
    assert_eq!(ok(ovh.list_dedicated_servers().await).len(), 2);
    assert_eq!(ok(ovh.list_cloud_projects().await).len(), 1);
    assert_eq!(ok(ovh.clone().list_dedicated_servers().await).len(), 2);
}

#[tokio::test]
async fn dedicated_server_list_and_details() {
    let server = MockServer::start().await;
    mount_account(&server).await;
    let ovh = client(&server);

    let names = ok(ovh.list_dedicated_servers().await);
    assert_eq!(
        names,
        ["ns3001234.ip-203-0-113.eu", "ns3005678.ip-198-51-100.eu"]
    );
    let detail = ok(ovh.get_dedicated_server(&names[0]).await);
    assert_eq!(detail.ip.as_deref(), Some("203.0.113.80"));
    assert_eq!(detail.datacenter, "gra3");
    assert_eq!(detail.commercial_range.as_deref(), Some("advance"));
    assert_eq!(detail.state, "ok");
    assert_eq!(
        detail.iam.and_then(|i| i.display_name).as_deref(),
        Some("edge-gra")
    );
}

#[tokio::test]
async fn cloud_projects_and_instances() {
    let server = MockServer::start().await;
    mount_account(&server).await;
    let ovh = client(&server);

    let projects = ok(ovh.list_cloud_projects().await);
    assert_eq!(projects, ["5f8a3c2e9b1d4e7fa0b2c4d6e8f01234"]);
    let instances = ok(ovh.list_cloud_instances(&projects[0]).await);
    assert_eq!(instances.len(), 4);
    assert_eq!(instances[0].region, "GRA11");
    assert_eq!(instances[0].ip_addresses[0].version, 4);
    assert_eq!(instances[0].ip_addresses[0].kind, "public");
}

#[tokio::test]
async fn provider_trait_lists_dedicated_and_cloud_with_normalised_locations() {
    let server = MockServer::start().await;
    mount_account(&server).await;
    let ovh = client(&server);

    let servers = ok(Provider::list_servers(&ovh, None).await);
    let summary: Vec<(&str, &str, &str)> = servers
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.location.as_str(),
                s.location_raw.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("edge-gra", "gra", "gra3"),
            ("ns3005678.ip-198-51-100.eu", "rbx", "rbx8"),
            ("app-gra", "gra", "GRA11"),
            ("app-uk", "uk", "UK1"),
            ("app-de", "de1", "DE1"),
            ("app-waw", "waw", "WAW1"),
        ]
    );
    let edge = &servers[0];
    assert_eq!(edge.provider, ProviderKind::Ovh);
    assert_eq!(edge.kind, ServerKind::Dedicated);
    assert_eq!(edge.id, "ns3001234.ip-203-0-113.eu");
    assert_eq!(edge.ipv4, Some(Ipv4Addr::new(203, 0, 113, 80)));
    let app = &servers[2];
    assert_eq!(app.kind, ServerKind::Cloud);
    assert_eq!(app.ipv4, Some(Ipv4Addr::new(203, 0, 113, 101)));
    assert_eq!(app.ipv6.as_deref(), Some("2001:db8:cafe::101"));
    assert_eq!(app.private_ips.len(), 1);
    assert_eq!(
        app.project.as_deref(),
        Some("5f8a3c2e9b1d4e7fa0b2c4d6e8f01234")
    );
    assert_eq!(app.status, "ACTIVE");

    let found = ok(ovh.find_server("edge-gra").await);
    assert_eq!(
        found.map(|s| s.id),
        Some("ns3001234.ip-203-0-113.eu".to_string())
    );
}

#[tokio::test]
async fn wrong_secret_is_rejected_by_the_signature_check() {
    let server = MockServer::start().await;
    mount_account(&server).await;
    match client_with(&server, "not-the-secret")
        .list_dedicated_servers()
        .await
    {
        Err(ProviderError::Http(e)) => {
            assert_eq!(e.status, 400);
            assert_eq!(e.code.as_deref(), Some("INVALID_SIGNATURE"));
            assert!(e.message.contains("signature mismatch"), "{}", e.message);
            assert_eq!(e.request_id.as_deref(), Some("EU.ext-4.sig-check"));
        }
        other => panic!("expected the signature to be rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn unsigned_or_unskewed_timestamps_are_rejected() {
    // Without the offset correction the client's clock is SERVER_SKEW
    // seconds behind: the mock must say so. This checks the check itself.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/1.0/auth/time"))
        .respond_with(ResponseTemplate::new(200).set_body_json(unix_now()))
        .mount(&server)
        .await;
    mount_signed(
        &server,
        "/1.0/dedicated/server",
        "ovh/dedicated_servers.json",
    )
    .await;
    match client(&server).list_dedicated_servers().await {
        Err(ProviderError::Http(e)) => {
            assert_eq!(e.status, 400);
            assert!(e.message.contains("off the API clock"), "{}", e.message);
        }
        other => panic!("expected a timestamp rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn not_found_and_not_granted_carry_message_and_query_id() {
    let server = MockServer::start().await;
    mount_auth_time(&server).await;
    Mock::given(method("GET"))
        .and(path("/1.0/dedicated/server/ns-missing"))
        .respond_with(SignedApi::new(
            status_fixture(404, "ovh/error_not_found.json")
                .insert_header("X-Ovh-QueryId", "EU.ext-1.404"),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/1.0/cloud/project"))
        .respond_with(SignedApi::new(
            status_fixture(403, "ovh/error_not_granted.json")
                .insert_header("X-Ovh-QueryId", "EU.ext-1.403"),
        ))
        .mount(&server)
        .await;
    let ovh = client(&server);

    match ovh.get_dedicated_server("ns-missing").await {
        Err(err) => {
            assert_eq!(err.status(), Some(404));
            assert_eq!(err.request_id(), Some("EU.ext-1.404"));
            let text = err.to_string();
            assert!(
                text.contains("does not exist") && text.contains("Client::NotFound"),
                "{text}"
            );
        }
        Ok(s) => panic!("expected 404, got {s:?}"),
    }
    match ovh.list_cloud_projects().await {
        Err(err) => {
            assert_eq!(err.status(), Some(403));
            assert_eq!(err.request_id(), Some("EU.ext-1.403"));
            assert!(err.to_string().contains("This call has not been granted"));
        }
        Ok(p) => panic!("expected 403, got {p:?}"),
    }
}

#[tokio::test]
async fn ovh_endpoint_url_from_the_environment() {
    let server = MockServer::start().await;
    mount_account(&server).await;
    let lookup = env(vec![
        ("OVH_APPLICATION_KEY", APP_KEY.to_string()),
        ("OVH_APPLICATION_SECRET", APP_SECRET.to_string()),
        ("OVH_CONSUMER_KEY", CONSUMER_KEY.to_string()),
        ("OVH_ENDPOINT", format!("{}/1.0", server.uri())),
    ]);
    let config = OvhConfig::from_lookup(&lookup).unwrap_or_else(|e| panic!("{e}"));
    let ovh = OvhClient::new(config.with_http(fast_http())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok(ovh.list_dedicated_servers().await).len(), 2);
}

#[tokio::test]
async fn credentials_never_appear_in_logs() {
    let logs = CapturedLogs::start();
    let server = MockServer::start().await;
    mount_account(&server).await;
    let ovh = client(&server);
    ok(ovh.list_dedicated_servers().await);
    let text = logs.text();
    assert!(
        text.contains("provider API call"),
        "the client logs its calls: {text}"
    );
    for secret in [APP_SECRET, CONSUMER_KEY, APP_KEY, "$1$"] {
        assert!(!text.contains(secret), "{secret} leaked into logs:\n{text}");
    }
}
