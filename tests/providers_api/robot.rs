//! Hetzner Robot client against a local mock of `robot-ws.your-server.de`.

use std::net::Ipv4Addr;

use rampart::providers::robot::{RescueRequest, ResetKind, RobotClient, RobotConfig};
use rampart::providers::{Provider, ProviderError, ProviderKind, Secret, ServerKind};
use wiremock::matchers::{basic_auth, body_string, header, method, path};
use wiremock::{Mock, MockServer};

use crate::support::{env, fast_http, json_fixture, status_fixture};

const USER: &str = "#ws+rampart1";
const PASSWORD: &str = "robot-pw-93b1";

fn client_with(server: &MockServer, password: &str) -> RobotClient {
    let config = RobotConfig::new(USER, Secret::new(password))
        .with_endpoint(&server.uri())
        .map(|c| c.with_http(fast_http()))
        .unwrap_or_else(|e| panic!("{e}"));
    RobotClient::new(config).unwrap_or_else(|e| panic!("{e}"))
}

fn client(server: &MockServer) -> RobotClient {
    client_with(server, PASSWORD)
}

fn ok<T>(r: Result<T, ProviderError>) -> T {
    r.unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

/// Like Robot: the right basic-auth credentials get the fixture, anything
/// else a 401 with Robot's error body.
async fn mount_authenticated(server: &MockServer, verb: &str, p: &str, body: &str) {
    Mock::given(method(verb))
        .and(path(p))
        .and(basic_auth(USER, PASSWORD))
        .respond_with(json_fixture(body))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method(verb))
        .and(path(p))
        .respond_with(status_fixture(401, "robot/error_401.json"))
        .mount(server)
        .await;
}

#[tokio::test]
async fn list_servers_with_basic_auth() {
    let server = MockServer::start().await;
    mount_authenticated(&server, "GET", "/server", "robot/servers.json").await;
    let servers = ok(client(&server).list_dedicated_servers().await);
    assert_eq!(servers.len(), 2);
    assert_eq!(servers[0].server_number, 321);
    assert_eq!(servers[0].server_name, "db-primary");
    assert_eq!(servers[0].dc, "FSN1-DC14");
    assert_eq!(
        servers[0].server_ipv6_net.as_deref(),
        Some("2001:db8:321::")
    );
    assert_eq!(servers[1].product, "SX65");
}

#[tokio::test]
async fn wrong_password_is_rejected_with_robots_message() {
    let server = MockServer::start().await;
    mount_authenticated(&server, "GET", "/server", "robot/servers.json").await;
    match client_with(&server, "wrong-password")
        .list_dedicated_servers()
        .await
    {
        Err(err @ ProviderError::Http(_)) => {
            assert_eq!(err.status(), Some(401));
            let text = err.to_string();
            assert!(
                text.contains("UNAUTHORIZED") && text.contains("Unauthorized"),
                "{text}"
            );
            assert!(!text.contains("wrong-password"), "{text}");
        }
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test]
async fn account_without_servers_lists_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/server"))
        .respond_with(status_fixture(404, "robot/error_server_not_found.json"))
        .mount(&server)
        .await;
    assert!(ok(client(&server).list_dedicated_servers().await).is_empty());
}

#[tokio::test]
async fn get_one_server() {
    let server = MockServer::start().await;
    mount_authenticated(&server, "GET", "/server/321", "robot/server.json").await;
    let s = ok(client(&server).get_server(321).await);
    assert_eq!(s.server_ip.as_deref(), Some("198.51.100.21"));
    assert_eq!(s.status, "ready");
}

#[tokio::test]
async fn unknown_server_is_a_404_with_robots_code() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/server/999"))
        .respond_with(status_fixture(404, "robot/error_server_not_found.json"))
        .mount(&server)
        .await;
    match client(&server).get_server(999).await {
        Err(ProviderError::Http(e)) => {
            assert_eq!(e.status, 404);
            assert_eq!(e.code.as_deref(), Some("SERVER_NOT_FOUND"));
            assert_eq!(e.message, "Server not found");
        }
        other => panic!("expected 404, got {other:?}"),
    }
}

#[tokio::test]
async fn activate_rescue_posts_form_with_key_fingerprints() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/boot/321/rescue"))
        .and(basic_auth(USER, PASSWORD))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(
            "os=linux&authorized_key%5B%5D=15%3A28%3Ab0%3A03%3A95%3Af0%3A77%3Ab3%3A10%3A56%3A15%3A6b%3A77%3A22%3Aa5%3Abb\
             &authorized_key%5B%5D=aa%3Abb",
        ))
        .respond_with(json_fixture("robot/rescue.json"))
        .expect(1)
        .mount(&server)
        .await;
    let request = RescueRequest::linux(vec![
        "15:28:b0:03:95:f0:77:b3:10:56:15:6b:77:22:a5:bb".into(),
        "aa:bb".into(),
    ]);
    let rescue = ok(client(&server).activate_rescue(321, &request).await);
    assert!(rescue.active);
    assert_eq!(rescue.os, "linux");
    assert_eq!(rescue.authorized_key[0].key.name, "ops@rampart");
    assert_eq!(
        rescue.password.as_ref().map(Secret::expose),
        Some("jEt0dtUvomJ4")
    );
    let debug = format!("{rescue:?}");
    assert!(!debug.contains("jEt0dtUvomJ4"), "{debug}");
}

#[tokio::test]
async fn reset_posts_type() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/reset/321"))
        .and(basic_auth(USER, PASSWORD))
        .and(body_string("type=hw"))
        .respond_with(json_fixture("robot/reset.json"))
        .expect(1)
        .mount(&server)
        .await;
    let reset = ok(client(&server).reset(321, ResetKind::Hardware).await);
    assert_eq!(reset.kind, "hw");
    assert_eq!(reset.server_number, 321);
}

#[tokio::test]
async fn invalid_input_is_reported() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/reset/321"))
        .respond_with(status_fixture(400, "robot/error_invalid_input.json"))
        .mount(&server)
        .await;
    match client(&server).reset(321, ResetKind::Power).await {
        Err(ProviderError::Http(e)) => {
            assert_eq!(e.status, 400);
            assert_eq!(e.code.as_deref(), Some("INVALID_INPUT"));
        }
        other => panic!("expected 400, got {other:?}"),
    }
}

#[tokio::test]
async fn rate_limit_is_reported_not_waited_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/server"))
        .respond_with(status_fixture(403, "robot/error_rate_limit.json"))
        .expect(1)
        .mount(&server)
        .await;
    match client(&server).list_dedicated_servers().await {
        Err(ProviderError::RateLimited(e)) => {
            assert_eq!(e.retries, 0);
            assert_eq!(e.message, "Rate limit exceeded");
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn provider_trait_maps_dedicated_servers() {
    let server = MockServer::start().await;
    mount_authenticated(&server, "GET", "/server", "robot/servers.json").await;
    let robot = client(&server);

    let servers = ok(Provider::list_servers(&robot, None).await);
    let db = &servers[0];
    assert_eq!(db.provider, ProviderKind::Hetzner);
    assert_eq!(db.kind, ServerKind::Dedicated);
    assert_eq!(db.id, "321");
    assert_eq!(db.ipv4, Some(Ipv4Addr::new(198, 51, 100, 21)));
    assert_eq!(db.location, "fsn1");
    assert_eq!(db.location_raw, "FSN1-DC14");
    assert_eq!(db.plan.as_deref(), Some("AX41-NVMe"));
    assert_eq!(servers[1].location, "hel1");

    // Robot servers have no labels: only negative selectors match.
    assert!(ok(Provider::list_servers(&robot, Some("env=prod")).await).is_empty());
    assert_eq!(
        ok(Provider::list_servers(&robot, Some("!env")).await).len(),
        2
    );

    let found = ok(robot.find_server("backup-1").await);
    assert_eq!(found.map(|s| s.id), Some("421".to_string()));
    assert_eq!(ok(robot.find_server("nope").await), None);
}

#[tokio::test]
async fn hrobot_endpoint_and_credentials_from_the_environment() {
    let server = MockServer::start().await;
    mount_authenticated(&server, "GET", "/server", "robot/servers.json").await;
    let lookup = env(vec![
        ("HROBOT_API_USER", USER.to_string()),
        ("HROBOT_API_PASSWORD", PASSWORD.to_string()),
        ("HROBOT_ENDPOINT", server.uri()),
    ]);
    let config = RobotConfig::from_lookup(&lookup).unwrap_or_else(|e| panic!("{e}"));
    let robot = RobotClient::new(config.with_http(fast_http())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(robot.endpoint(), server.uri());
    assert_eq!(ok(robot.list_dedicated_servers().await).len(), 2);
}
