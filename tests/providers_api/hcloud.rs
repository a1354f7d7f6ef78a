//! Hetzner Cloud client against a local mock of `api.hetzner.cloud/v1`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart::providers::hcloud::{
    CreateFirewallRequest, CreateServerRequest, FirewallResource, FirewallRule, HcloudClient,
    HcloudConfig, IdOrName, ImageQuery,
};
use rampart::providers::{Provider, ProviderError, ProviderKind, Secret, ServerKind};
use serde_json::json;
use wiremock::matchers::{bearer_token, body_json, body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    env, fast_http, fixture, json_fixture, status_fixture, unix_now, CapturedLogs,
};

const TOKEN: &str = "hc-test-token-4f9c1e";

async fn client(server: &MockServer) -> HcloudClient {
    let config = HcloudConfig::new(Secret::new(TOKEN))
        .with_endpoint(&format!("{}/v1", server.uri()))
        .map(|c| c.with_http(fast_http()))
        .unwrap_or_else(|e| panic!("{e}"));
    HcloudClient::new(config).unwrap_or_else(|e| panic!("{e}"))
}

fn ok<T>(r: Result<T, ProviderError>) -> T {
    r.unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

// --- servers: pagination, get, find -----------------------------------------

#[tokio::test]
async fn list_servers_follows_next_page_until_null() {
    let server = MockServer::start().await;
    for (page, body) in [
        ("1", "hcloud/servers_page1.json"),
        ("2", "hcloud/servers_page2.json"),
    ] {
        Mock::given(method("GET"))
            .and(path("/v1/servers"))
            .and(bearer_token(TOKEN))
            .and(query_param("label_selector", "env=prod"))
            .and(query_param("page", page))
            .and(query_param("per_page", "50"))
            .respond_with(json_fixture(body))
            .expect(1)
            .mount(&server)
            .await;
    }
    let hc = client(&server).await;

    let servers = ok(hc.list_cloud_servers(Some("env=prod")).await);
    let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web-1", "web-2", "db-1"]);
    assert_eq!(servers[2].location_name(), Some("hel1"));
    assert_eq!(servers[0].private_net[0].ip, "10.0.0.2");
    assert_eq!(servers[0].server_type.name, "cx22");
}

#[tokio::test]
async fn provider_trait_maps_cloud_servers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/servers"))
        .and(query_param("page", "1"))
        .respond_with(json_fixture("hcloud/servers_page1.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/servers"))
        .and(query_param("page", "2"))
        .respond_with(json_fixture("hcloud/servers_page2.json"))
        .mount(&server)
        .await;
    let hc = client(&server).await;

    let servers = ok(Provider::list_servers(&hc, None).await);
    assert_eq!(servers.len(), 3);
    let web1 = &servers[0];
    assert_eq!(web1.provider, ProviderKind::Hetzner);
    assert_eq!(web1.kind, ServerKind::Cloud);
    assert_eq!(web1.id, "4711");
    assert_eq!(web1.ipv4, Some(Ipv4Addr::new(203, 0, 113, 10)));
    assert_eq!(web1.ipv6.as_deref(), Some("2001:db8:10::/64"));
    assert_eq!(
        web1.private_ips,
        vec!["10.0.0.2"
            .parse::<std::net::IpAddr>()
            .unwrap_or_else(|e| panic!("{e}"))]
    );
    assert_eq!(web1.location, "fsn1");
    assert_eq!(web1.location_raw, "fsn1");
    assert_eq!(web1.labels.get("role").map(String::as_str), Some("web"));
    assert_eq!(web1.status, "running");
    assert_eq!(web1.plan.as_deref(), Some("cx22"));
    assert_eq!(servers[2].location, "hel1");
}

#[tokio::test]
async fn get_server_by_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/4711"))
        .and(bearer_token(TOKEN))
        .respond_with(json_fixture("hcloud/server.json"))
        .expect(1)
        .mount(&server)
        .await;
    let s = ok(client(&server).await.get_server(4711).await);
    assert_eq!(s.name, "web-1");
    assert_eq!(s.ipv4(), Some(Ipv4Addr::new(203, 0, 113, 10)));
    assert_eq!(s.public_net.firewalls[0].status, "applied");
}

#[tokio::test]
async fn find_server_by_name_and_missing_name() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/servers"))
        .and(query_param("name", "web-1"))
        .respond_with(json_fixture("hcloud/servers_by_name.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/servers"))
        .and(query_param("name", "nope"))
        .respond_with(json_fixture("hcloud/servers_empty.json"))
        .mount(&server)
        .await;
    let hc = client(&server).await;
    let found = ok(hc.find_server("web-1").await);
    assert_eq!(found.map(|s| s.id), Some("4711".to_string()));
    assert_eq!(ok(hc.find_server("nope").await), None);
}

// --- create, actions ----------------------------------------------------------

fn create_request() -> CreateServerRequest {
    CreateServerRequest {
        name: "edge-1".into(),
        server_type: "cx22".into(),
        image: "debian-12".into(),
        location: Some("fsn1".into()),
        ssh_keys: vec![IdOrName::from("ops@rampart")],
        networks: vec![4242],
        firewalls: vec![38],
        labels: BTreeMap::from([("managed-by".to_string(), "rampart".to_string())]),
        user_data: None,
        start_after_create: None,
    }
}

#[tokio::test]
async fn create_server_sends_documented_body_and_waits_for_actions() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/servers"))
        .and(bearer_token(TOKEN))
        .and(body_json(json!({
            "name": "edge-1",
            "server_type": "cx22",
            "image": "debian-12",
            "location": "fsn1",
            "ssh_keys": ["ops@rampart"],
            "networks": [4242],
            "firewalls": [{"firewall": 38}],
            "labels": {"managed-by": "rampart"}
        })))
        .respond_with(status_fixture(201, "hcloud/create_server.json"))
        .expect(1)
        .mount(&server)
        .await;
    // create_server is running twice, then succeeds.
    Mock::given(method("GET"))
        .and(path("/v1/actions/9001"))
        .respond_with(json_fixture("hcloud/action_running.json"))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/actions/9001"))
        .respond_with(json_fixture("hcloud/action_success.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/actions/9002"))
        .respond_with(json_fixture("hcloud/action_start_success.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/4800"))
        .respond_with(json_fixture("hcloud/server_created_running.json"))
        .expect(1)
        .mount(&server)
        .await;

    let (created, action) = ok(client(&server)
        .await
        .create_server_and_wait(&create_request())
        .await);
    assert_eq!(created.status, "running");
    assert_eq!(created.ipv4(), Some(Ipv4Addr::new(203, 0, 113, 50)));
    assert_eq!(action.command, "create_server");
    assert_eq!(action.status, "success");
}

#[tokio::test]
async fn create_server_returns_server_and_action_with_masked_root_password() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/servers"))
        .respond_with(status_fixture(
            201,
            "hcloud/create_server_with_password.json",
        ))
        .mount(&server)
        .await;
    let created = ok(client(&server).await.create_server(&create_request()).await);
    assert_eq!(created.server.id, 4800);
    assert_eq!(created.action.status, "success");
    assert_eq!(
        created.root_password.as_ref().map(Secret::expose),
        Some("YItygq1v3GYjjMomLaKc")
    );
    let debug = format!("{created:?}");
    assert!(!debug.contains("YItygq1v3GYjjMomLaKc"), "{debug}");
}

#[tokio::test]
async fn wait_action_running_then_success() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/actions/9001"))
        .respond_with(json_fixture("hcloud/action_running.json"))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/actions/9001"))
        .respond_with(json_fixture("hcloud/action_success.json"))
        .mount(&server)
        .await;
    let action = ok(client(&server).await.wait_action(9001).await);
    assert_eq!(action.status, "success");
    assert_eq!(action.progress, 100);
    let polls = server.received_requests().await.map(|r| r.len());
    assert_eq!(polls, Some(4));
}

#[tokio::test]
async fn wait_action_running_then_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/actions/9001"))
        .respond_with(json_fixture("hcloud/action_running.json"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/actions/9001"))
        .respond_with(json_fixture("hcloud/action_error.json"))
        .mount(&server)
        .await;
    match client(&server).await.wait_action(9001).await {
        Err(ProviderError::ActionFailed {
            id,
            command,
            code,
            message,
            ..
        }) => {
            assert_eq!(id, 9001);
            assert_eq!(command, "create_server");
            assert_eq!(code, "action_failed");
            assert_eq!(message, "Action failed");
        }
        other => panic!("expected ActionFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn wait_action_gives_up_after_the_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/actions/9001"))
        .respond_with(json_fixture("hcloud/action_running.json"))
        .mount(&server)
        .await;
    let mut http = fast_http();
    http.poll.timeout = Duration::from_millis(150);
    let config = HcloudConfig::new(Secret::new(TOKEN))
        .with_endpoint(&format!("{}/v1", server.uri()))
        .map(|c| c.with_http(http))
        .unwrap_or_else(|e| panic!("{e}"));
    let hc = HcloudClient::new(config).unwrap_or_else(|e| panic!("{e}"));
    let started = std::time::Instant::now();
    match hc.wait_action(9001).await {
        Err(ProviderError::Timeout { what, after, .. }) => {
            assert_eq!(what, "action 9001");
            assert_eq!(after, Duration::from_millis(150));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

// --- errors ---------------------------------------------------------------------

async fn expect_http_error(status: u16, fixture_file: &str, code: &str, message: &str) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/99"))
        .respond_with(
            status_fixture(status, fixture_file).insert_header("X-Correlation-Id", "c0ffee-1234"),
        )
        .mount(&server)
        .await;
    match client(&server).await.get_server(99).await {
        Err(ProviderError::Http(e)) => {
            assert_eq!(e.status, status);
            assert_eq!(e.code.as_deref(), Some(code));
            assert_eq!(e.message, message);
            assert_eq!(e.request_id.as_deref(), Some("c0ffee-1234"));
            assert_eq!(e.endpoint, "/servers/99");
            assert_eq!(e.method, "GET");
            let text = e.to_string();
            assert!(
                text.contains(message) && text.contains("c0ffee-1234"),
                "{text}"
            );
            assert!(!text.contains(TOKEN));
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

#[tokio::test]
async fn unauthorized_401() {
    expect_http_error(
        401,
        "hcloud/error_401.json",
        "unauthorized",
        "unable to authenticate",
    )
    .await;
}

#[tokio::test]
async fn forbidden_403() {
    expect_http_error(
        403,
        "hcloud/error_403.json",
        "forbidden",
        "insufficient permissions for this request",
    )
    .await;
}

#[tokio::test]
async fn not_found_404() {
    expect_http_error(
        404,
        "hcloud/error_404.json",
        "not_found",
        "server with ID '99' not found",
    )
    .await;
}

#[tokio::test]
async fn invalid_input_422_keeps_details() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/servers"))
        .respond_with(
            status_fixture(422, "hcloud/error_422.json")
                .insert_header("X-Correlation-Id", "req-422"),
        )
        .mount(&server)
        .await;
    match client(&server).await.create_server(&create_request()).await {
        Err(ProviderError::Http(e)) => {
            assert_eq!(e.status, 422);
            assert_eq!(e.code.as_deref(), Some("invalid_input"));
            assert_eq!(e.request_id.as_deref(), Some("req-422"));
            let field = e.details.as_ref().and_then(|d| d.pointer("/fields/0/name"));
            assert_eq!(field, Some(&json!("server_type")));
        }
        other => panic!("expected 422, got {other:?}"),
    }
}

fn rate_limited(reset: i64) -> ResponseTemplate {
    status_fixture(429, "hcloud/error_429.json")
        .insert_header("RateLimit-Limit", "3600")
        .insert_header("RateLimit-Remaining", "0")
        .insert_header("RateLimit-Reset", reset.to_string().as_str())
        .insert_header("X-Correlation-Id", "rl-77")
}

#[tokio::test]
async fn rate_limited_429_waits_for_reset_then_succeeds() {
    let server = MockServer::start().await;
    let reset = unix_now() + 1;
    Mock::given(method("GET"))
        .and(path("/v1/servers/4711"))
        .respond_with(rate_limited(reset))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/4711"))
        .respond_with(json_fixture("hcloud/server.json"))
        .expect(1)
        .mount(&server)
        .await;
    let s = ok(client(&server).await.get_server(4711).await);
    assert_eq!(s.id, 4711);
    // The retry was not sent before the reset time the API announced.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    assert!(
        now >= reset as f64,
        "retried before RateLimit-Reset ({now} < {reset})"
    );
}

#[tokio::test]
async fn rate_limited_429_gives_up_after_bounded_retries() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/4711"))
        // A reset time already past: retry at once, so the test is fast.
        .respond_with(rate_limited(unix_now() - 1))
        .expect(3)
        .mount(&server)
        .await;
    match client(&server).await.get_server(4711).await {
        Err(ProviderError::RateLimited(e)) => {
            assert_eq!(e.retries, 2);
            assert_eq!(e.message, "limit of 3600 requests per hour reached");
            assert_eq!(e.request_id.as_deref(), Some("rl-77"));
            assert!(e.reset_at.is_some());
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn undecodable_body_names_the_endpoint() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/4711"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"servers": []})))
        .mount(&server)
        .await;
    match client(&server).await.get_server(4711).await {
        Err(ProviderError::Decode { endpoint, .. }) => assert_eq!(endpoint, "/servers/4711"),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn pagination_that_never_ends_is_bounded() {
    // A broken API repeating page 1 as "next" must not loop forever.
    let server = MockServer::start().await;
    let mut body = fixture("hcloud/servers_page1.json");
    if let Some(p) = body.pointer_mut("/meta/pagination/next_page") {
        *p = json!(1);
    }
    Mock::given(method("GET"))
        .and(path("/v1/servers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let servers = ok(client(&server).await.list_cloud_servers(None).await);
    assert_eq!(servers.len(), 2);
}

// --- one fixture per remaining endpoint ------------------------------------------

#[tokio::test]
async fn locations_server_types_and_images() {
    let server = MockServer::start().await;
    for (p, body) in [
        ("/v1/locations", "hcloud/locations.json"),
        ("/v1/server_types", "hcloud/server_types.json"),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(json_fixture(body))
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/v1/images"))
        .and(query_param("type", "system"))
        .and(query_param("architecture", "x86"))
        .respond_with(json_fixture("hcloud/images.json"))
        .expect(1)
        .mount(&server)
        .await;
    let hc = client(&server).await;

    let locations = ok(hc.list_locations().await);
    let names: Vec<&str> = locations.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["fsn1", "nbg1", "hel1", "ash"]);
    assert_eq!(locations[2].country, "FI");

    let types = ok(hc.list_server_types().await);
    assert_eq!(types[0].name, "cx22");
    assert_eq!(types[0].prices[0].location, "fsn1");

    let query = ImageQuery {
        kind: Some("system".into()),
        architecture: Some("x86".into()),
        ..ImageQuery::default()
    };
    let images = ok(hc.list_images(&query).await);
    assert_eq!(images[0].name.as_deref(), Some("debian-12"));
    assert_eq!(images[0].kind, "system");
}

#[tokio::test]
async fn ssh_keys_list_and_create() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/ssh_keys"))
        .respond_with(json_fixture("hcloud/ssh_keys.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/ssh_keys"))
        .and(body_partial_json(
            json!({"name": "ops@rampart", "labels": {"managed-by": "rampart"}}),
        ))
        .respond_with(status_fixture(201, "hcloud/create_ssh_key.json"))
        .expect(1)
        .mount(&server)
        .await;
    let hc = client(&server).await;
    let keys = ok(hc.list_ssh_keys().await);
    assert_eq!(
        keys[0].fingerprint,
        "b7:2f:30:a0:2f:6c:58:6c:21:04:58:61:ba:06:3b:2f"
    );
    let labels = BTreeMap::from([("managed-by".to_string(), "rampart".to_string())]);
    let created = ok(hc
        .create_ssh_key("ops@rampart", &keys[0].public_key, &labels)
        .await);
    assert_eq!(created.id, 2323);
}

#[tokio::test]
async fn networks_and_attach_server() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/networks"))
        .respond_with(json_fixture("hcloud/networks.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/servers/4711/actions/attach_to_network"))
        .and(body_json(json!({"network": 4242, "ip": "10.0.0.9"})))
        .respond_with(status_fixture(201, "hcloud/attach_to_network.json"))
        .expect(1)
        .mount(&server)
        .await;
    let hc = client(&server).await;
    let networks = ok(hc.list_networks().await);
    assert_eq!(networks[0].ip_range, "10.0.0.0/16");
    assert_eq!(networks[0].subnets[0].network_zone, "eu-central");
    let action = ok(hc
        .attach_server_to_network(4711, 4242, Some("10.0.0.9"))
        .await);
    assert_eq!(action.command, "attach_to_network");
    assert!(action.is_running());
}

#[tokio::test]
async fn firewalls_list_create_and_apply() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/firewalls"))
        .respond_with(json_fixture("hcloud/firewalls.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/firewalls"))
        .and(body_json(json!({
            "name": "rampart-db",
            "rules": [{"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["198.51.100.0/24"]}],
            "apply_to": [{"type": "server", "server": {"id": 4713}}]
        })))
        .respond_with(status_fixture(201, "hcloud/create_firewall.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/firewalls/38/actions/apply_to_resources"))
        .and(body_json(json!({"apply_to": [{"type": "label_selector", "label_selector": {"selector": "role=web"}}]})))
        .respond_with(status_fixture(201, "hcloud/apply_firewall.json"))
        .expect(1)
        .mount(&server)
        .await;
    let hc = client(&server).await;

    let firewalls = ok(hc.list_firewalls().await);
    assert_eq!(firewalls[0].rules[0].port.as_deref(), Some("22"));
    assert_eq!(firewalls[0].applied_to[1].kind, "label_selector");

    let request = CreateFirewallRequest {
        name: "rampart-db".into(),
        rules: vec![FirewallRule {
            direction: "in".into(),
            protocol: "tcp".into(),
            port: Some("22".into()),
            source_ips: vec!["198.51.100.0/24".into()],
            destination_ips: vec![],
            description: None,
        }],
        apply_to: vec![FirewallResource::server(4713)],
        ..CreateFirewallRequest::default()
    };
    let created = ok(hc.create_firewall(&request).await);
    assert_eq!(created.firewall.id, 39);
    assert_eq!(created.actions.len(), 2);

    let actions = ok(hc
        .apply_firewall(38, &[FirewallResource::label_selector("role=web")])
        .await);
    assert_eq!(actions[0].command, "apply_firewall");
}

#[tokio::test]
async fn volumes_labels_and_delete() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/volumes"))
        .and(query_param("label_selector", "env=prod"))
        .respond_with(json_fixture("hcloud/volumes.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v1/servers/4711"))
        .and(body_json(
            json!({"labels": {"env": "prod", "role": "web", "rampart/baseline": "v1"}}),
        ))
        .respond_with(json_fixture("hcloud/update_server.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1/servers/4711"))
        .respond_with(json_fixture("hcloud/delete_server.json"))
        .expect(1)
        .mount(&server)
        .await;
    let hc = client(&server).await;

    let volumes = ok(hc.list_volumes(Some("env=prod")).await);
    assert_eq!(volumes[0].server, Some(4713));
    assert_eq!(volumes[0].location.name, "hel1");

    let labels = BTreeMap::from([
        ("env".to_string(), "prod".to_string()),
        ("role".to_string(), "web".to_string()),
        ("rampart/baseline".to_string(), "v1".to_string()),
    ]);
    let updated = ok(hc.set_server_labels(4711, &labels).await);
    assert_eq!(updated.labels, labels);

    let action = ok(hc.delete_server(4711).await);
    assert_eq!(action.command, "delete_server");
}

// --- configuration and secrets ----------------------------------------------------

#[tokio::test]
async fn hcloud_endpoint_variable_redirects_the_client() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/4711"))
        .and(bearer_token("from-env-token"))
        .respond_with(json_fixture("hcloud/server.json"))
        .expect(1)
        .mount(&server)
        .await;
    let lookup = env(vec![
        ("HCLOUD_TOKEN", "from-env-token".to_string()),
        ("HCLOUD_ENDPOINT", format!("{}/v1/", server.uri())),
    ]);
    let config = HcloudConfig::from_lookup(&lookup).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.endpoint, format!("{}/v1", server.uri()));
    let hc = HcloudClient::new(config.with_http(fast_http())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok(hc.get_server(4711).await).id, 4711);
}

#[tokio::test]
async fn token_never_appears_in_logs() {
    let logs = CapturedLogs::start();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/4711"))
        .respond_with(rate_limited(unix_now() - 1))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/servers/4711"))
        .respond_with(json_fixture("hcloud/server.json"))
        .mount(&server)
        .await;
    ok(client(&server).await.get_server(4711).await);
    let text = logs.text();
    assert!(
        text.contains("provider API call"),
        "the client logs its calls: {text}"
    );
    assert!(!text.contains(TOKEN), "token leaked into logs:\n{text}");
    assert!(
        !text.contains("Bearer"),
        "authorization header leaked into logs:\n{text}"
    );
}
