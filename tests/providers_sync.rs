//! `rampart inventory sync` and `inventory check --live` against a local
//! mock of the Hetzner Cloud API (the fixtures in
//! `tests/fixtures/providers/hcloud/`): the binary is run with
//! `HCLOUD_ENDPOINT` pointing at 127.0.0.1. No test reaches a provider.

mod common;

#[path = "providers_api/support.rs"]
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{rampart, text};
use rampart::inventory::Inventory;
use support::{fixture, status_fixture};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "hc-sync-token-77c1";

/// Hand-written on purpose: comments, flow and block hosts, a trailing
/// section. Everything of it must survive a sync byte for byte.
const INVENTORY: &str = "# Fleet inventory: hand-written, keep the comments.
ssh:
  user: root   # first contact
roles:
  web: [base, firewall]   # our own role
hosts:
  # the front door
  web-1:
    address: 203.0.113.10
    provider: hetzner
    location: fsn1
    roles: [web]
    vars: {motd: \"hello\"}   # hand-written
  legacy-1: {address: 203.0.113.77, provider: hetzner, location: nbg1, roles: [base]}  # gone?
  office: {address: 192.0.2.5, roles: [base]}

# waivers below
waivers: []
";

/// What sync appends after `office` for web-2 and db-1.
const ADDED: &str = "  # added by rampart inventory sync from Hetzner Cloud server 4713
  db-1:
    address: 203.0.113.12
    provider: hetzner
    location: hel1
    roles: [db]  # from label role=db
    mesh_address: 10.99.0.1  # next free mesh address, chosen by inventory sync
  # added by rampart inventory sync from Hetzner Cloud server 4712
  web-2:
    address: 203.0.113.11
    provider: hetzner
    location: nbg1
    roles: [web]  # from label role=web
";

/// Mounts `GET /v1/servers` (two pages) answering `page1` and `page2`.
async fn mount_servers(server: &MockServer, page1: serde_json::Value, page2: serde_json::Value) {
    for (page, body) in [("1", page1), ("2", page2)] {
        Mock::given(method("GET"))
            .and(path("/v1/servers"))
            .and(query_param("page", page))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(server)
            .await;
    }
}

async fn mock_hcloud() -> MockServer {
    let server = MockServer::start().await;
    mount_servers(
        &server,
        fixture("hcloud/servers_page1.json"),
        fixture("hcloud/servers_page2.json"),
    )
    .await;
    server
}

fn write_inventory(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("inventory.yaml");
    std::fs::write(&p, text).expect("write inventory");
    p
}

/// Runs rampart with only Hetzner Cloud credentials, pointed at the mock.
async fn run(server: &MockServer, args: Vec<String>) -> Output {
    let endpoint = format!("{}/v1", server.uri());
    tokio::task::spawn_blocking(move || {
        let mut cmd = rampart();
        for var in [
            "HROBOT_API_USER",
            "HROBOT_API_PASSWORD",
            "HROBOT_USER",
            "HROBOT_PASSWORD",
            "OVH_APPLICATION_KEY",
            "OVH_APPLICATION_SECRET",
            "OVH_CONSUMER_KEY",
            "OVH_ENDPOINT",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HCLOUD_TOKEN", TOKEN)
            .env("HCLOUD_ENDPOINT", endpoint)
            .args(&args)
            .output()
            .expect("runs")
    })
    .await
    .expect("joined")
}

fn sync_args(inv: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "-i".to_string(),
        inv.display().to_string(),
        "inventory".into(),
        "sync".into(),
        "--provider".into(),
        "hetzner".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

async fn only_gets(server: &MockServer) {
    let requests = server.received_requests().await.unwrap_or_default();
    assert!(!requests.is_empty(), "the mock was asked");
    for r in requests {
        assert_eq!(r.method.as_str(), "GET", "{} {}", r.method, r.url);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_without_write_prints_the_diff_and_writes_nothing() {
    let server = mock_hcloud().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = write_inventory(tmp.path(), INVENTORY);

    let out = run(&server, sync_args(&inv, &[])).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("hetzner: 3 servers (hcloud 3)"), "{stdout}");
    assert!(stdout.contains("  robot not configured"), "{stdout}");
    assert!(stdout.contains("in the inventory: web-1\n"), "{stdout}");
    assert!(
        stdout.contains("new: db-1 (203.0.113.12, hel1, roles db)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("new: web-2 (203.0.113.11, nbg1, roles web)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("vanished: legacy-1 (203.0.113.77): not found at hetzner (robot not configured, so not asked); left in the inventory"),
        "{stdout}"
    );
    // The diff shows every added line.
    for line in ADDED.lines() {
        assert!(
            stdout.contains(&format!("+{line}\n")),
            "{line:?} in\n{stdout}"
        );
    }
    assert!(stdout.contains("nothing written: run again with --write to add 2 host(s)"));
    assert_eq!(
        std::fs::read_to_string(&inv).ok().as_deref(),
        Some(INVENTORY)
    );
    only_gets(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_write_adds_new_servers_and_keeps_every_hand_written_byte() {
    let server = mock_hcloud().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = write_inventory(tmp.path(), INVENTORY);

    let out = run(&server, sync_args(&inv, &["--write"])).await;
    let stdout = text(&out.stdout);
    // legacy-1 is still flagged: drift, even though the write succeeded.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("wrote 2 new host(s)"), "{stdout}");

    let written = std::fs::read_to_string(&inv).expect("read");
    let office = "  office: {address: 192.0.2.5, roles: [base]}\n";
    let expected = INVENTORY.replace(office, &format!("{office}{ADDED}"));
    assert_eq!(written, expected);
    // Nothing was deleted, and the result is a valid inventory.
    let parsed = Inventory::parse(&inv, &written).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = parsed.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["web-1", "legacy-1", "office", "db-1", "web-2"]);
    assert_eq!(
        parsed.host("web-1").map(|h| h.vars.len()),
        Some(1),
        "hand-written vars kept"
    );
    // No temporary file left behind.
    let files = std::fs::read_dir(tmp.path())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(files, 1);

    // A second sync finds nothing new and writes nothing.
    let out = run(&server, sync_args(&inv, &["--write"])).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("in the inventory: db-1, web-1, web-2"),
        "{stdout}"
    );
    assert!(!stdout.contains("new: "), "{stdout}");
    assert_eq!(std::fs::read_to_string(&inv).ok(), Some(expected));
    only_gets(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn label_selector_limits_the_servers_added() {
    let server = mock_hcloud().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    // Without legacy-1, nothing vanished: a full sync ends compliant.
    let src = INVENTORY.replace(
        "  legacy-1: {address: 203.0.113.77, provider: hetzner, location: nbg1, roles: [base]}  # gone?\n",
        "",
    );
    let inv = write_inventory(tmp.path(), &src);
    let out = run(
        &server,
        sync_args(&inv, &["--label-selector", "role=db", "--write"]),
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("1 match --label-selector role=db"),
        "{stdout}"
    );
    let written = std::fs::read_to_string(&inv).expect("read");
    assert!(
        written.contains("  db-1:\n") && !written.contains("web-2"),
        "{written}"
    );
    only_gets(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_result_is_never_written() {
    // The provider reports a location the site table does not know; under a
    // residency policy that cannot be proven, so the inventory would not
    // validate and --write refuses.
    let server = MockServer::start().await;
    let mut page2 = fixture("hcloud/servers_page2.json");
    page2["servers"][0]["datacenter"]["location"]["name"] = "mars1".into();
    mount_servers(&server, fixture("hcloud/servers_page1.json"), page2).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = format!("residency: {{countries: [DE, FI]}}\n{INVENTORY}").replace(
        "office: {address: 192.0.2.5, roles: [base]}",
        "office: {address: 192.0.2.5, roles: [base], location: fsn1}",
    );
    let inv = write_inventory(tmp.path(), &src);

    let out = run(&server, sync_args(&inv, &["--write"])).await;
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}\n{stderr}",
        text(&out.stdout)
    );
    assert!(
        stderr.contains("would not be valid, so nothing is written"),
        "{stderr}"
    );
    assert!(stderr.contains("unknown location \"mars1\""), "{stderr}");
    assert_eq!(std::fs::read_to_string(&inv).ok(), Some(src));
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_without_credentials_is_an_input_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = write_inventory(tmp.path(), INVENTORY);
    let out = tokio::task::spawn_blocking(move || {
        rampart()
            .env_remove("HCLOUD_TOKEN")
            .env_remove("HROBOT_API_USER")
            .env_remove("HROBOT_API_PASSWORD")
            .env_remove("HROBOT_USER")
            .env_remove("HROBOT_PASSWORD")
            .args(sync_args(&inv, &[]))
            .output()
            .expect("runs")
    })
    .await
    .expect("joined");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("HCLOUD_TOKEN"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn api_failure_is_a_failure_not_an_empty_fleet() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/servers"))
        .respond_with(status_fixture(401, "hcloud/error_401.json"))
        .mount(&server)
        .await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = write_inventory(tmp.path(), INVENTORY);
    let out = run(&server, sync_args(&inv, &["--write"])).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("HTTP 401"),
        "{}",
        text(&out.stderr)
    );
    assert!(!text(&out.stdout).contains("vanished"));
    assert_eq!(
        std::fs::read_to_string(&inv).ok().as_deref(),
        Some(INVENTORY)
    );
}

// --- inventory check --live (RES-02) -----------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn check_live_reports_locations_that_disagree_with_the_provider() {
    let server = mock_hcloud().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    // web-1 is at fsn1 (agrees); db-1 is written as nbg1 but the API says
    // hel1; legacy-1 is not at the provider; office is provider: other.
    let src = INVENTORY.replace(
        "  office: {address: 192.0.2.5, roles: [base]}\n",
        "  office: {address: 192.0.2.5, roles: [base]}\n  db-1: {address: 203.0.113.12, provider: hetzner, location: nbg1, roles: [base]}\n",
    );
    let inv = write_inventory(tmp.path(), &src);

    // Without --live, the network is never touched.
    let args = |live: bool| {
        let mut a = vec![
            "-i".to_string(),
            inv.display().to_string(),
            "inventory".into(),
            "check".into(),
        ];
        if live {
            a.push("--live".into());
        }
        a
    };
    let out = run(&server, args(false)).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("RES-02"));
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(0));

    let out = run(&server, args(true)).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let res02: Vec<&str> = stdout.lines().filter(|l| l.starts_with("RES-02")).collect();
    assert_eq!(
        res02,
        [
            "RES-02 locations from the providers: 1 of 2 checked hosts match",
            "RES-02 FAIL db-1: the inventory says location nbg1, hcloud says hel1",
            "RES-02 legacy-1: not checked: not found at hcloud, and no credentials for robot (set HROBOT_API_USER and HROBOT_API_PASSWORD)",
            "RES-02 office: not checked: provider: other has no API to ask",
        ]
    );
    only_gets(&server).await;
}

// --- OVHcloud -----------------------------------------------------------------

/// The OVH account of the fixtures (two dedicated servers, four Public
/// Cloud instances). Signatures are checked by the client tests; this mock
/// only serves the bodies.
async fn mock_ovh() -> MockServer {
    let server = MockServer::start().await;
    let get = |p: &str, body: serde_json::Value| {
        Mock::given(method("GET"))
            .and(path(format!("/1.0{p}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    get("/auth/time", serde_json::json!(now))
        .mount(&server)
        .await;
    for (p, f) in [
        ("/dedicated/server", "ovh/dedicated_servers.json"),
        (
            "/dedicated/server/ns3001234.ip-203-0-113.eu",
            "ovh/dedicated_server_ns3001234.json",
        ),
        (
            "/dedicated/server/ns3005678.ip-198-51-100.eu",
            "ovh/dedicated_server_ns3005678.json",
        ),
        ("/cloud/project", "ovh/cloud_projects.json"),
        (
            "/cloud/project/5f8a3c2e9b1d4e7fa0b2c4d6e8f01234/instance",
            "ovh/cloud_instances.json",
        ),
    ] {
        get(p, fixture(f)).mount(&server).await;
    }
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn ovh_sync_adds_instances_with_the_default_role_and_flags_vanished_hosts() {
    let server = mock_ovh().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = "hosts:\n  edge-gra: {address: 203.0.113.80, provider: ovh, location: gra, roles: [base]}\n  ovh-old: {address: 198.51.100.250, provider: ovh, roles: [base]}\n  web-1: {address: 203.0.113.10, provider: hetzner, roles: [base]}\n";
    let inv = write_inventory(tmp.path(), src);
    let endpoint = format!("{}/1.0", server.uri());
    let args = vec![
        "-i".to_string(),
        inv.display().to_string(),
        "inventory".into(),
        "sync".into(),
        "--provider".into(),
        "ovh".into(),
        "--write".into(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        rampart()
            .env_remove("HCLOUD_TOKEN")
            .env("OVH_APPLICATION_KEY", "ak")
            .env("OVH_APPLICATION_SECRET", "as")
            .env("OVH_CONSUMER_KEY", "ck")
            .env("OVH_ENDPOINT", endpoint)
            .args(&args)
            .output()
            .expect("runs")
    })
    .await
    .expect("joined");
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("ovh: 6 servers (ovh 6)"), "{stdout}");
    assert!(stdout.contains("in the inventory: edge-gra\n"), "{stdout}");
    assert!(
        stdout.contains(
            "vanished: ovh-old (198.51.100.250): not found at ovh; left in the inventory"
        ),
        "{stdout}"
    );
    assert!(
        !stdout.contains("vanished: web-1"),
        "other providers' hosts are not judged: {stdout}"
    );
    let written = std::fs::read_to_string(&inv).expect("read");
    assert!(written.starts_with(src), "{written}");
    assert!(
        written.contains(
            "  # added by rampart inventory sync from OVHcloud Public Cloud instance 9d1b6c2e-3333-4aaa-8bbb-000000000003 (project 5f8a3c2e9b1d4e7fa0b2c4d6e8f01234)\n  app-de:\n    address: 203.0.113.103\n    provider: ovh\n    location: de1\n    roles: [base]  # no `role`/`roles` label at the provider: base = baseline + ssh\n"
        ),
        "{written}"
    );
    let parsed = Inventory::parse(&inv, &written).unwrap_or_else(|e| panic!("{e}"));
    let locations: Vec<(&str, Option<&str>)> = parsed
        .hosts
        .iter()
        .skip(3)
        .map(|h| (h.name.as_str(), h.location.as_deref()))
        .collect();
    assert_eq!(
        locations,
        [
            ("app-de", Some("de1")),
            ("app-gra", Some("gra")),
            ("app-uk", Some("uk")),
            ("app-waw", Some("waw")),
            ("ns3005678.ip-198-51-100.eu", Some("rbx")),
        ]
    );
}

/// Issue 14 §5: a new user's first step is importing the servers they rent,
/// into an inventory with `hosts: {}`.
#[tokio::test(flavor = "multi_thread")]
async fn sync_starts_from_an_inventory_without_hosts() {
    let server = mock_hcloud().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = write_inventory(
        tmp.path(),
        "# ours\nroles:\n  web: [base, firewall]\nhosts: {}   # filled by sync\n",
    );

    let out = run(&server, sync_args(&inv, &["--write"])).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("wrote 3 new host(s)"), "{stdout}");
    let written = std::fs::read_to_string(&inv).expect("read");
    insta::assert_snapshot!(written);
    Inventory::parse(&inv, &written).unwrap_or_else(|e| panic!("{e}"));
    only_gets(&server).await;
}

/// Issue 14 §5: with no inventory at all, sync shows what it would start and
/// `--write` creates it (provider, locations, roles from labels, comments);
/// the result passes `inventory check` and a second sync finds nothing new.
#[tokio::test(flavor = "multi_thread")]
async fn sync_starts_a_missing_inventory_only_with_write() {
    let server = mock_hcloud().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = tmp.path().join("inventory.yaml");

    let out = run(&server, sync_args(&inv, &[])).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("no inventory yet; sync starts one"),
        "{stdout}"
    );
    assert!(
        stdout.contains("nothing written: run again with --write to create it with 3 host(s) in"),
        "{stdout}"
    );
    assert!(!inv.exists(), "nothing is written without --write");

    let out = run(&server, sync_args(&inv, &["--write"])).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("with 3 host(s) from hetzner"), "{stdout}");
    let written = std::fs::read_to_string(&inv).expect("created");
    insta::assert_snapshot!(written);

    let check = rampart()
        .args(["-i", &inv.display().to_string(), "inventory", "check"])
        .output()
        .expect("runs");
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));

    let again = run(&server, sync_args(&inv, &["--write"])).await;
    let stdout = text(&again.stdout);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&again.stderr)
    );
    assert!(stdout.contains("the inventory matches hetzner"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&inv).ok(), Some(written));
}
