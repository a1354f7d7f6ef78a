//! Creating Hetzner Cloud servers for hosts declared with `create:`,
//! against a local mock of the API (fixtures in
//! `tests/fixtures/providers/hcloud/`). The "server" the mock creates has
//! the address 127.0.0.1, where a fake sshd (a listener sending an SSH
//! banner) answers, so the whole path runs: keys, firewall, creation,
//! action polling, address, SSH wait. No test reaches a provider.

mod common;

#[path = "providers_api/support.rs"]
#[allow(dead_code)]
mod support;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{rampart, text};
use rampart::inventory::Inventory;
use rampart::providers::create::{self, CreateError, CreateOptions, Ready};
use rampart::providers::hcloud::{HcloudClient, HcloudConfig};
use rampart::providers::Secret;
use serde_json::json;
use support::{fast_http, fixture, json_fixture};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "hc-create-token-3a9d";

/// A throwaway ed25519 key (fixed seed: nothing trusts it) in OpenSSH
/// format, and its public line.
fn test_key() -> (String, String) {
    use russh::keys::ssh_key::private::Ed25519Keypair;
    use russh::keys::ssh_key::{LineEnding, PrivateKey};
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&[42u8; 32]));
    let private = key
        .to_openssh(LineEnding::LF)
        .map(|z| z.to_string())
        .expect("encode private key");
    let public = key.public_key().to_openssh().expect("encode public key");
    (private, format!("{public} ops@test"))
}

/// A listener that greets every connection like sshd, then hangs up.
async fn fake_sshd() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = stream
                .write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
                .await;
        }
    });
    port
}

fn inventory_text(port: u16, residency: &str, network: &str) -> String {
    let (_, public) = test_key();
    format!(
        "# hand-written
ssh:
  user: ops
  identity: id_test
  known_hosts: known_hosts
  connect_timeout: 3
admin_sources: [203.0.113.5/28, 198.51.100.7]
operators:
  - name: ops
    keys: [\"{public}\"]
{residency}hosts:
  web-3:
    # created by provision
    provider: hetzner
    port: {port}
    roles: [base]
    create: {{type: cx22, image: debian-12, location: fsn1{network}}}
"
    )
}

fn parse(text: &str) -> Inventory {
    Inventory::parse(Path::new("/srv/fleet/inventory.yaml"), text).unwrap_or_else(|e| panic!("{e}"))
}

async fn client(server: &MockServer) -> HcloudClient {
    let config = HcloudConfig::new(Secret::new(TOKEN))
        .with_endpoint(&format!("{}/v1", server.uri()))
        .map(|c| c.with_http(fast_http()))
        .unwrap_or_else(|e| panic!("{e}"));
    HcloudClient::new(config).unwrap_or_else(|e| panic!("{e}"))
}

fn fast() -> CreateOptions {
    CreateOptions {
        ssh_timeout: Duration::from_secs(5),
        ssh_interval: Duration::from_millis(50),
        jobs: 4,
    }
}

/// A fixture with the server's public IPv4 replaced by 127.0.0.1.
fn at_localhost(rel: &str) -> serde_json::Value {
    let mut v = fixture(rel);
    if v.get("server").is_some() {
        v["server"]["public_net"]["ipv4"]["ip"] = "127.0.0.1".into();
    }
    if let Some(servers) = v.get_mut("servers").and_then(|s| s.as_array_mut()) {
        for s in servers {
            s["public_net"]["ipv4"]["ip"] = "127.0.0.1".into();
        }
    }
    v
}

fn action(id: u64, command: &str, status: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"action": {
        "id": id, "command": command, "status": status, "progress": 100,
        "started": "2024-03-05T10:20:00+00:00", "finished": null,
        "resources": [], "error": null
    }}))
}

/// Every mock of a successful creation of web-3.
async fn mount_creation(server: &MockServer) {
    let get = |p: &str| Mock::given(method("GET")).and(path(format!("/v1{p}")));
    let post = |p: &str| Mock::given(method("POST")).and(path(format!("/v1{p}")));
    get("/servers")
        .and(query_param("name", "web-3"))
        .respond_with(json_fixture("hcloud/servers_empty.json"))
        .mount(server)
        .await;
    get("/networks")
        .respond_with(json_fixture("hcloud/networks.json"))
        .mount(server)
        .await;
    get("/ssh_keys")
        .respond_with(json_fixture("hcloud/ssh_keys.json"))
        .mount(server)
        .await;
    post("/ssh_keys")
        .respond_with(
            ResponseTemplate::new(201).set_body_json(fixture("hcloud/create_ssh_key.json")),
        )
        .mount(server)
        .await;
    get("/firewalls")
        .respond_with(json_fixture("hcloud/firewalls.json"))
        .mount(server)
        .await;
    post("/firewalls")
        .respond_with(
            ResponseTemplate::new(201).set_body_json(fixture("hcloud/create_firewall.json")),
        )
        .mount(server)
        .await;
    for (id, command) in [(9300, "set_firewall_rules"), (9301, "apply_firewall")] {
        get(&format!("/actions/{id}"))
            .respond_with(action(id, command, "success"))
            .mount(server)
            .await;
    }
    post("/servers")
        .respond_with(
            ResponseTemplate::new(201).set_body_json(at_localhost("hcloud/create_server.json")),
        )
        .mount(server)
        .await;
    // create_server runs for one poll, then succeeds.
    get("/actions/9001")
        .respond_with(json_fixture("hcloud/action_running.json"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    get("/actions/9001")
        .respond_with(json_fixture("hcloud/action_success.json"))
        .mount(server)
        .await;
    get("/actions/9002")
        .respond_with(json_fixture("hcloud/action_start_success.json"))
        .mount(server)
        .await;
    get("/servers/4800")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(at_localhost("hcloud/server_created_running.json")),
        )
        .mount(server)
        .await;
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

fn body(r: &Request) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{} body is not JSON: {e}", r.url))
}

fn posts(reqs: &[Request]) -> Vec<String> {
    reqs.iter()
        .filter(|r| r.method.as_str() != "GET")
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

#[tokio::test]
async fn a_declared_server_is_created_with_keys_network_and_ssh_firewall() {
    let port = fake_sshd().await;
    let server = MockServer::start().await;
    mount_creation(&server).await;
    let inv = parse(&inventory_text(
        port,
        "residency: {countries: [DE]}\n",
        ", network: fleet",
    ));
    let hosts: Vec<_> = inv.hosts.iter().collect();
    let hc = client(&server).await;

    let plan = create::plan_creation(&hc, &inv, &hosts)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(plan.existing.is_empty());
    assert_eq!(plan.to_create.len(), 1);
    // Planning only reads.
    assert_eq!(posts(&requests(&server).await), Vec::<String>::new());

    let progress = |_: &str, _: &str| {};
    let outcome = create::execute(&hc, &inv, &plan, &fast(), &progress)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    assert_eq!(
        outcome.ready,
        [Ready {
            host: "web-3".into(),
            server_id: 4800,
            address: IpAddr::from([127, 0, 0, 1]),
            location: "fsn1".into(),
            created: true,
        }]
    );

    let reqs = requests(&server).await;
    // Keys and firewall exist before the server is created.
    assert_eq!(
        posts(&reqs),
        [
            "POST /v1/ssh_keys",
            "POST /v1/firewalls",
            "POST /v1/servers"
        ]
    );
    let find = |m: &str, p: &str| {
        reqs.iter()
            .find(|r| r.method.as_str() == m && r.url.path() == p)
            .unwrap_or_else(|| panic!("no {m} {p}"))
    };
    let (_, public) = test_key();
    let key = body(find("POST", "/v1/ssh_keys"));
    assert_eq!(key["public_key"], json!(public));
    assert!(
        key["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("rampart-ops-")),
        "{key}"
    );
    assert_eq!(key["labels"]["managed-by"], "rampart");

    let firewall = body(find("POST", "/v1/firewalls"));
    assert_eq!(
        firewall["rules"],
        json!([{
            "direction": "in",
            "protocol": "tcp",
            "port": port.to_string(),
            "source_ips": ["198.51.100.7/32", "203.0.113.0/28"],
            "description": "SSH from admin_sources (rampart)"
        }])
    );
    assert!(
        firewall["name"]
            .as_str()
            .is_some_and(|n| n.starts_with(&format!("rampart-ssh-{port}-"))),
        "{firewall}"
    );

    assert_eq!(
        body(find("POST", "/v1/servers")),
        json!({
            "name": "web-3",
            "server_type": "cx22",
            "image": "debian-12",
            "location": "fsn1",
            "ssh_keys": [2323],
            "networks": [4242],
            "firewalls": [{"firewall": 39}],
            "labels": {"managed-by": "rampart", "role": "base"},
            "start_after_create": true
        })
    );
    // The create action was polled until it succeeded, and the start
    // action too; the firewall's actions were waited for.
    let polls = |id: &str| {
        reqs.iter()
            .filter(|r| r.url.path() == format!("/v1/actions/{id}"))
            .count()
    };
    assert_eq!(polls("9001"), 2);
    assert_eq!(polls("9002"), 1);
    assert_eq!(polls("9300") + polls("9301"), 2);
}

#[tokio::test]
async fn outside_the_residency_policy_nothing_is_requested() {
    let server = MockServer::start().await;
    mount_creation(&server).await;
    let inv = parse(&inventory_text(22, "residency: {countries: [FR]}\n", ""));
    let hosts: Vec<_> = inv.hosts.iter().collect();
    let result = create::plan_creation(&client(&server).await, &inv, &hosts).await;
    match result {
        Err(e @ CreateError::Residency { .. }) => {
            assert!(e.is_refusal());
            assert_eq!(
                e.to_string(),
                "refused, nothing was created: web-3 would be created in fsn1 (Falkenstein), which is in DE, outside the residency policy [FR]"
            );
        }
        other => panic!("expected a residency refusal, got {other:?}"),
    }
    let reqs = requests(&server).await;
    assert!(posts(&reqs).is_empty(), "no POST");
    assert!(reqs.is_empty(), "not even a GET: {:?}", posts(&reqs));
}

#[tokio::test]
async fn an_unknown_network_is_refused_before_any_post() {
    let server = MockServer::start().await;
    mount_creation(&server).await;
    let inv = parse(&inventory_text(22, "", ", network: backend"));
    let hosts: Vec<_> = inv.hosts.iter().collect();
    let result = create::plan_creation(&client(&server).await, &inv, &hosts).await;
    match result {
        Err(e @ CreateError::UnknownNetwork { .. }) => {
            assert!(e.to_string().contains("(it has: fleet)"), "{e}");
        }
        other => panic!("expected an unknown network, got {other:?}"),
    }
    assert!(posts(&requests(&server).await).is_empty());
}

#[tokio::test]
async fn an_existing_server_is_not_created_again() {
    let port = fake_sshd().await;
    let server = MockServer::start().await;
    let mut by_name = at_localhost("hcloud/servers_by_name.json");
    by_name["servers"][0]["name"] = "web-3".into();
    Mock::given(method("GET"))
        .and(path("/v1/servers"))
        .and(query_param("name", "web-3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(by_name))
        .mount(&server)
        .await;
    let inv = parse(&inventory_text(port, "", ""));
    let hosts: Vec<_> = inv.hosts.iter().collect();
    let hc = client(&server).await;
    let plan = create::plan_creation(&hc, &inv, &hosts)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(plan.to_create.is_empty());
    let progress = |_: &str, _: &str| {};
    let outcome = create::execute(&hc, &inv, &plan, &fast(), &progress)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.ready.len(), 1);
    assert!(!outcome.ready[0].created);
    assert_eq!(outcome.ready[0].server_id, 4711);
    assert!(posts(&requests(&server).await).is_empty());
}

#[tokio::test]
async fn a_failed_create_action_is_reported_for_that_host() {
    let server = MockServer::start().await;
    // Mounted first, so it wins over the success mounted after it.
    Mock::given(method("GET"))
        .and(path("/v1/actions/9001"))
        .respond_with(json_fixture("hcloud/action_error.json"))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_creation(&server).await;
    let inv = parse(&inventory_text(22, "", ""));
    let hosts: Vec<_> = inv.hosts.iter().collect();
    let hc = client(&server).await;
    let plan = create::plan_creation(&hc, &inv, &hosts)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let progress = |_: &str, _: &str| {};
    let outcome = create::execute(&hc, &inv, &plan, &fast(), &progress)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.ready.is_empty());
    assert_eq!(outcome.failed.len(), 1);
    let (host, e) = &outcome.failed[0];
    assert_eq!(host, "web-3");
    assert!(e.to_string().contains("create_server"), "{e}");
}

// --- through `rampart provision` ---------------------------------------------

/// Writes the key and the inventory, with `profiles_dir:` pointing at an
/// empty directory: these tests are about creation, not about profiles.
fn write_fleet(dir: &Path, inventory: &str) -> (PathBuf, String) {
    let inventory = inventory.replace(
        "# hand-written\n",
        "# hand-written\nprofiles_dir: profiles\n",
    );
    std::fs::create_dir(dir.join("profiles")).expect("mkdir profiles");
    let (private, _) = test_key();
    let key = dir.join("id_test");
    std::fs::write(&key, private).expect("write key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let inv = dir.join("inventory.yaml");
    std::fs::write(&inv, &inventory).expect("write inventory");
    (inv, inventory)
}

async fn provision(server: &MockServer, inv: &Path, extra: &[&str]) -> std::process::Output {
    let endpoint = format!("{}/v1", server.uri());
    let mut args = vec!["-i".to_string(), inv.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("provision".into());
    tokio::task::spawn_blocking(move || {
        rampart()
            .env_remove("SSH_AUTH_SOCK")
            .env("HCLOUD_TOKEN", TOKEN)
            .env("HCLOUD_ENDPOINT", endpoint)
            .args(&args)
            .output()
            .expect("runs")
    })
    .await
    .expect("joined")
}

#[tokio::test(flavor = "multi_thread")]
async fn provision_refuses_a_location_outside_the_policy_before_any_request() {
    let server = MockServer::start().await;
    mount_creation(&server).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (inv, text) = write_fleet(
        tmp.path(),
        &inventory_text(22, "residency: {countries: [FR]}\n", ""),
    );
    let out = provision(&server, &inv, &["--accept-new-host-keys"]).await;
    let stderr = text_of(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("outside the residency policy [FR]"),
        "{stderr}"
    );
    assert!(requests(&server).await.is_empty());
    assert_eq!(std::fs::read_to_string(&inv).ok(), Some(text));
}

#[tokio::test(flavor = "multi_thread")]
async fn provision_needs_accept_new_host_keys_to_create() {
    let server = MockServer::start().await;
    mount_creation(&server).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (inv, _) = write_fleet(tmp.path(), &inventory_text(22, "", ""));
    let out = provision(&server, &inv, &[]).await;
    let stderr = text_of(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("pass --accept-new-host-keys"), "{stderr}");
    assert!(posts(&requests(&server).await).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn provision_creates_records_the_address_and_connects_to_it() {
    let port = fake_sshd().await;
    let server = MockServer::start().await;
    mount_creation(&server).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (inv, text) = write_fleet(
        tmp.path(),
        &inventory_text(port, "residency: {countries: [DE]}\n", ", network: fleet"),
    );

    let out = provision(&server, &inv, &["--accept-new-host-keys"]).await;
    let stdout = text_of(&out.stdout);
    let stderr = text_of(&out.stderr);
    assert!(
        stdout.contains(
            "web-3: creating a cx22 server from debian-12 in fsn1, attached to network fleet"
        ),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("web-3: created Hetzner Cloud server 4800 in fsn1, address 127.0.0.1"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("recorded the address of web-3"), "{stdout}");
    // The address went into the host's block; nothing else changed.
    assert_eq!(
        std::fs::read_to_string(&inv).ok(),
        Some(text.replace(
            "    # created by provision\n",
            "    # created by provision\n    address: 127.0.0.1\n"
        ))
    );
    // First contact went to the API's address (the fake sshd there only
    // sends a banner, so the SSH handshake fails: a host failure, exit 3).
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stderr.contains("web-3"), "{stderr}");
    assert_eq!(
        posts(&requests(&server).await),
        [
            "POST /v1/ssh_keys",
            "POST /v1/firewalls",
            "POST /v1/servers"
        ]
    );

    // Run again: the server exists now, nothing is created twice.
    let mut by_name = at_localhost("hcloud/create_server.json");
    by_name["server"]["status"] = "running".into();
    by_name["server"]["name"] = "web-3".into();
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/v1/servers"))
        .and(query_param("name", "web-3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "servers": [by_name["server"].clone()],
            "meta": {"pagination": {"page": 1, "per_page": 50, "next_page": null}}
        })))
        .mount(&server)
        .await;
    let out = provision(&server, &inv, &["--accept-new-host-keys"]).await;
    let stdout = text_of(&out.stdout);
    assert!(
        stdout.contains("web-3: Hetzner Cloud server 4800 exists, address 127.0.0.1"),
        "{stdout}\n{}",
        text_of(&out.stderr)
    );
    assert!(posts(&requests(&server).await).is_empty());
}

fn text_of(bytes: &[u8]) -> String {
    text(bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn other_commands_refuse_hosts_not_created_yet() {
    let server = MockServer::start().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (inv, _) = write_fleet(tmp.path(), &inventory_text(22, "", ""));
    for command in ["facts", "harden", "verify", "plan"] {
        let inv = inv.clone();
        let out = tokio::task::spawn_blocking(move || {
            rampart()
                .arg("-i")
                .arg(&inv)
                .arg(command)
                .output()
                .expect("runs")
        })
        .await
        .expect("joined");
        let stderr = text_of(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("web-3 not created yet") && stderr.contains("rampart provision"),
            "{command}: {stderr}"
        );
    }
    assert!(requests(&server).await.is_empty());
}
