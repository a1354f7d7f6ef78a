//! `rampart report` end to end from runs recorded on a 3-host lab
//! (`tests/fixtures/report/`, see `record.sh` there): the HTML opened in
//! headless Debian Chromium with networking off, the JSON against its
//! schema, signatures checked with stock `ssh-keygen -Y verify`, age
//! encryption, `--diff`, JUnit structure, and what a report must never
//! carry. Needs `chromium` and `ssh-keygen` (scripts/test installs them);
//! without them these tests fail, they never skip.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fingerprint, keygen, rampart, text};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/report")
        .join(name)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON")
}

/// The files of a report directory by extension chain (`html`, `html.sig`, …).
fn files(dir: &Path) -> BTreeMap<String, PathBuf> {
    std::fs::read_dir(dir)
        .expect("out dir")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let ext = name.split_once('.').map(|(_, e)| e.to_string()).unwrap();
            (ext, p)
        })
        .collect()
}

/// `report --from verify-before.json` with the recorded inventory.
fn report(out: &Path, extra: &[&str]) -> std::process::Output {
    rampart()
        .arg("-i")
        .arg(fixture("inventory.yaml"))
        .args(["report", "--from"])
        .arg(fixture("verify-before.json"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("runs")
}

#[test]
fn a_saved_run_becomes_html_json_and_markdown_named_by_time() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = report(tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "drift: exit 1 like verify");
    let f = files(tmp.path());
    assert_eq!(f.keys().collect::<Vec<_>>(), ["html", "json", "md"]);
    for p in f.values() {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let stamp = name
            .strip_prefix("rampart-report-")
            .and_then(|s| s.split('.').next())
            .expect("rampart-report-<stamp>");
        assert_eq!(stamp.len(), 16, "{name}");
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[8] == b'T',
            "{name}"
        );
        assert!(text(&out.stdout).contains(&name), "stdout lists {name}");
    }
    let md = std::fs::read_to_string(&f["md"]).expect("md");
    assert!(
        md.starts_with("## rampart compliance report — DRIFT"),
        "{md}"
    );
    assert!(md.contains("**Fleet score: 77.9 %**"), "{md}");
    assert!(
        md.contains("| critical | **SSH-01** Password authentication is disabled | r-report-3 |"),
        "{md}"
    );
    assert!(md.contains("OUTSIDE policy"), "{md}");
    assert!(md.len() < 60_000, "fits a pull-request comment");
    // The report names what it was made from.
    let json = read_json(&f["json"]);
    let before = read_json(&fixture("verify-before.json"));
    assert_eq!(json["source"]["kind"], "saved");
    assert_eq!(json["source"]["inventory"]["matches_verify"], true);
    for key in [
        "rampart_version",
        "inventory_sha256",
        "profiles_sha256",
        "started_at",
    ] {
        assert_eq!(json["verify"][key], before[key], "{key}");
    }
    assert_eq!(json["summary"]["score"], 77.9);
    assert_eq!(json["residency"]["policy"], serde_json::json!(["FR", "DE"]));
}

struct Schemas(BTreeMap<String, Value>);

impl jsonschema::Retrieve for Schemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        self.0
            .get(uri.as_str())
            .cloned()
            .ok_or_else(|| format!("no schema {uri}").into())
    }
}

fn schema(name: &str) -> Value {
    read_json(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schemas")
            .join(name),
    )
}

fn report_validator() -> jsonschema::Validator {
    let verify = schema("verify.schema.json");
    let id = verify["$id"].as_str().unwrap().to_string();
    jsonschema::options()
        .with_retriever(Schemas(BTreeMap::from([(id, verify)])))
        .build(&schema("report.schema.json"))
        .expect("report schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

#[test]
fn report_json_follows_its_schema_and_embeds_a_valid_verify_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    report(tmp.path(), &[]);
    let doc = read_json(&files(tmp.path())["json"]);
    assert_valid(&report_validator(), &doc, "report");
    let verify = jsonschema::validator_for(&schema("verify.schema.json")).expect("compiles");
    assert_valid(&verify, &doc["verify"], "report.verify");
    for f in ["verify-before.json", "verify-after.json"] {
        assert_valid(&verify, &read_json(&fixture(f)), f);
    }
    // The schema is strict: an unknown member is refused.
    let mut bad = doc.clone();
    bad["summary"]["extra"] = Value::Bool(true);
    assert!(!report_validator().is_valid(&bad));
}

/// Every `src`, `href`, `action` … attribute value and CSS `url(…)`.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    for attr in [
        "src=",
        "href=",
        "action=",
        "srcset=",
        "poster=",
        "data=",
        "xlink:href=",
    ] {
        let mut rest = lower.as_str();
        while let Some(i) = rest.find(attr) {
            let v = &rest[i + attr.len()..];
            let end = if let Some(stripped) = v.strip_prefix('"') {
                stripped.find('"').map(|j| &stripped[..j])
            } else if let Some(stripped) = v.strip_prefix('\'') {
                stripped.find('\'').map(|j| &stripped[..j])
            } else {
                v.split([' ', '>']).next()
            };
            out.push(end.unwrap_or_default().to_string());
            rest = &v[1.min(v.len())..];
        }
    }
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("url(") {
        out.push(rest[i..].chars().take(80).collect());
        rest = &rest[i + 4..];
    }
    out
}

#[test]
fn the_html_is_one_self_contained_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    report(tmp.path(), &[]);
    let html = std::fs::read_to_string(&files(tmp.path())["html"]).expect("html");
    let refs = references(&html);
    assert!(!refs.is_empty(), "the page has internal links");
    for r in &refs {
        assert!(
            r.starts_with('#'),
            "only in-page references are allowed, found {r:?}"
        );
    }
    let lower = html.to_ascii_lowercase();
    for forbidden in [
        "http://",
        "https://",
        "//fonts.",
        "<script",
        "<link",
        "<iframe",
        "<img",
        "<object",
        "<embed",
        "@import",
        "@font-face",
    ] {
        assert!(!lower.contains(forbidden), "{forbidden} in the report");
    }
    assert!(
        html.contains("content=\"default-src 'none'; style-src 'unsafe-inline'"),
        "a CSP forbids every load"
    );
}

// ---------------------------------------------------------------- Chromium

/// Headless Chromium with networking off (every name resolves to nothing,
/// every connection goes to a proxy that answers nobody) and its network
/// log on, from which the requests the *page* started are picked out (the
/// browser's own background traffic — component updates, time sync — has
/// no page initiator).
struct Browser {
    port: u16,
}

impl Browser {
    /// A proxy that answers nobody: whatever Chromium tries to fetch ends
    /// here and fails, so nothing leaves the machine during the test.
    fn start() -> Browser {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for c in listener.incoming() {
                drop(c);
            }
        });
        Browser { port }
    }

    fn chromium() -> String {
        std::env::var("RAMPART_CHROMIUM").unwrap_or_else(|_| "chromium".into())
    }

    /// Runs headless Chromium on `page` with `mode` (`--dump-dom` or
    /// `--screenshot=…`); returns stdout and the page's own requests.
    fn open(&self, page: &Path, mode: &str) -> (String, Vec<String>) {
        let profile = tempfile::tempdir().expect("profile dir");
        let netlog = profile.path().join("netlog.json");
        let out = Command::new(Self::chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--window-size=1280,1400",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--proxy-bypass-list=<-loopback>",
            ])
            .arg(format!("--proxy-server=http://127.0.0.1:{}", self.port))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--log-net-log={}", netlog.display()))
            .arg(mode)
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): install Debian's chromium (scripts/test does)",
                    Self::chromium()
                )
            });
        assert!(
            out.status.success(),
            "chromium failed: {}",
            text(&out.stderr)
        );
        (text(&out.stdout), page_requests(&netlog))
    }
}

/// URLs of requests a page initiated, from a Chromium net log.
fn page_requests(netlog: &Path) -> Vec<String> {
    let log = read_json(netlog);
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        .as_i64()
        .expect("net log knows URL_REQUEST_START_JOB");
    log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"].as_i64() == Some(start_job))
        .filter_map(|e| {
            let p = &e["params"];
            let url = p["url"].as_str()?;
            let initiator = p["initiator"].as_str().unwrap_or("not an origin");
            (initiator != "not an origin").then(|| url.to_string())
        })
        .collect()
}

#[test]
fn headless_chromium_shows_the_summary_and_a_failing_control_and_fetches_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    report(tmp.path(), &[]);
    let html = files(tmp.path())["html"].clone();
    let browser = Browser::start();

    // The harness sees a page's request: an external image is caught.
    let probe = tmp.path().join("probe.html");
    std::fs::write(
        &probe,
        "<html><body><img src=\"http://example.invalid/x.png\"></body></html>",
    )
    .expect("write");
    let (_, requests) = browser.open(&probe, "--dump-dom");
    assert!(
        requests.iter().any(|u| u.contains("example.invalid")),
        "the harness must detect page requests: {requests:?}"
    );

    let (dom, requests) = browser.open(&html, "--dump-dom");
    assert!(
        requests.is_empty(),
        "the report made requests: {requests:?}"
    );

    let section = |id: &str| -> String {
        let start = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} in the rendered page"));
        let rest = &dom[start..];
        let end = rest[1..].find("<h2").map_or(rest.len(), |i| i + 1);
        rest[..end].to_string()
    };
    let summary = section("summary");
    assert!(summary.contains("Fleet score 77.9 %"), "{summary}");
    assert!(summary.contains("1 compliant"), "{summary}");
    assert!(dom.contains("id=\"fleet-state\">DRIFT<"));
    let failures = section("failures");
    assert!(!failures.contains("<details"), "failures are never folded");
    let first_row = failures.find("class=\"failure\"").expect("a failure row");
    let ssh01 = failures.find("SSH-01").expect("SSH-01 is listed");
    assert!(
        failures[first_row..].contains("critical"),
        "the most severe come first"
    );
    assert!(failures[ssh01..].contains("passwordauthentication yes"));
    assert!(section("residency").contains("OUTSIDE the policy"));
    assert!(section("areas").contains("no host in this run has the proxy profile"));

    // The screenshot an auditor sees first, kept as a test artifact.
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let shot = artifacts.join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let (_, requests) = browser.open(&html, &format!("--screenshot={}", shot.display()));
    assert!(requests.is_empty(), "{requests:?}");
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 1400));
    assert!(png.len() > 50_000, "a rendered page, not a blank one");
}

// --------------------------------------------------------------- signatures

fn ssh_keygen(args: &[&str], stdin: Option<&Path>) -> std::process::Output {
    let mut c = Command::new("ssh-keygen");
    c.args(args);
    if let Some(p) = stdin {
        c.stdin(std::fs::File::open(p).expect("open"));
    }
    c.output()
        .expect("ssh-keygen runs (openssh-client; scripts/test installs it)")
}

/// An ed25519 key encrypted with `passphrase`, and its public key line.
fn encrypted_key(dir: &Path, name: &str, passphrase: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let out = ssh_keygen(
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            passphrase,
            "-f",
            key.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    (key.clone(), public_line(&key))
}

fn public_line(key: &Path) -> String {
    std::fs::read_to_string(key.with_extension("pub"))
        .expect("pub")
        .trim()
        .to_string()
}

fn verify_signature(allowed: &Path, file: &Path, sig: &Path) -> std::process::Output {
    ssh_keygen(
        &[
            "-Y",
            "verify",
            "-f",
            allowed.to_str().unwrap(),
            "-I",
            "ops",
            "-n",
            "rampart-report",
            "-s",
            sig.to_str().unwrap(),
        ],
        Some(file),
    )
}

#[test]
fn signatures_verify_with_stock_ssh_keygen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = tmp.path().join("keys");
    std::fs::create_dir(&keys).expect("mkdir");
    let (key, public) = encrypted_key(&keys, "id_ed25519", "correct horse battery");
    let allowed = keys.join("allowed_signers");
    std::fs::write(&allowed, format!("ops {public}\n")).expect("write");
    let out_dir = tmp.path().join("out");

    // An encrypted key without its passphrase is an input error, exit 2.
    let out = report(&out_dir, &["--sign", key.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("RAMPART_SSH_PASSPHRASE"));

    let out = rampart()
        .env("RAMPART_SSH_PASSPHRASE", "correct horse battery")
        .arg("-i")
        .arg(fixture("inventory.yaml"))
        .args(["report", "--from"])
        .arg(fixture("verify-before.json"))
        .arg("--out")
        .arg(&out_dir)
        .arg("--sign")
        .arg(&key)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let f = files(&out_dir);
    assert_eq!(
        f.keys().collect::<Vec<_>>(),
        ["html", "html.sig", "json", "json.sig", "md", "md.sig"]
    );
    for ext in ["html", "json", "md"] {
        let ok = verify_signature(&allowed, &f[ext], &f[&format!("{ext}.sig")]);
        assert!(
            ok.status.success(),
            "{ext}: {}{}",
            text(&ok.stdout),
            text(&ok.stderr)
        );
        assert!(text(&ok.stdout).contains("Good \"rampart-report\" signature for ops"));
    }
    // The signer is named in the report; the passphrase appears nowhere.
    let json = std::fs::read_to_string(&f["json"]).expect("json");
    let doc: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(doc["signing"]["namespace"], "rampart-report");
    assert_eq!(
        doc["signing"]["key_fingerprint"],
        fingerprint(&key.with_extension("pub"))
    );
    assert!(public.starts_with(doc["signing"]["public_key"].as_str().unwrap()));
    for p in f.values() {
        let body = std::fs::read_to_string(p).expect("read");
        assert!(!body.contains("correct horse"), "{}", p.display());
        assert!(!body.contains("PRIVATE KEY"), "{}", p.display());
    }
    // A changed byte, or another namespace, does not verify.
    let tampered = tmp.path().join("tampered.html");
    let html = std::fs::read_to_string(&f["html"]).expect("html");
    std::fs::write(&tampered, html.replacen("77.9 %", "97.9 %", 1)).expect("write");
    assert!(!verify_signature(&allowed, &tampered, &f["html.sig"])
        .status
        .success());
    let other_ns = ssh_keygen(
        &[
            "-Y",
            "verify",
            "-f",
            allowed.to_str().unwrap(),
            "-I",
            "ops",
            "-n",
            "file",
            "-s",
            f["html.sig"].to_str().unwrap(),
        ],
        Some(&f["html"]),
    );
    assert!(!other_ns.status.success());
}

#[test]
fn encrypted_reports_leave_no_plaintext_and_decrypt_to_the_signed_files() {
    use age::secrecy::ExposeSecret;
    use std::str::FromStr;
    let tmp = tempfile::tempdir().expect("tempdir");
    let identity = age::x25519::Identity::generate();
    let inventory = tmp.path().join("inventory.yaml");
    let mut inv = std::fs::read_to_string(fixture("inventory.yaml")).expect("inventory");
    inv.push_str(&format!(
        "secrets:\n  recipients: [\"{}\"]\n",
        identity.to_public()
    ));
    std::fs::write(&inventory, inv).expect("write");
    let key = keygen(tmp.path(), "signer");
    let public = public_line(&key);
    let allowed = tmp.path().join("allowed_signers");
    std::fs::write(&allowed, format!("ops {public}\n")).expect("write");
    let out_dir = tmp.path().join("out");
    let out = rampart()
        .arg("-i")
        .arg(&inventory)
        .args(["report", "--from"])
        .arg(fixture("verify-before.json"))
        .arg("--out")
        .arg(&out_dir)
        .args(["--encrypt", "--sign"])
        .arg(&key)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let f = files(&out_dir);
    assert_eq!(
        f.keys().collect::<Vec<_>>(),
        ["html.age", "html.sig", "json.age", "json.sig", "md.age", "md.sig"],
        "no plaintext left behind"
    );
    let id = age::x25519::Identity::from_str(identity.to_string().expose_secret()).expect("id");
    for ext in ["html", "json", "md"] {
        let sealed = std::fs::read(&f[&format!("{ext}.age")]).expect("read");
        let plain = age::decrypt(&id, &sealed).expect("decrypts");
        let clear = tmp.path().join(format!("clear.{ext}"));
        std::fs::write(&clear, &plain).expect("write");
        let ok = verify_signature(&allowed, &clear, &f[&format!("{ext}.sig")]);
        assert!(ok.status.success(), "{ext}: {}", text(&ok.stderr));
    }
    // The inventory changed (recipients added): the report says so.
    let sealed = std::fs::read(&f["json.age"]).expect("read");
    let doc: Value =
        serde_json::from_slice(&age::decrypt(&id, &sealed).expect("decrypts")).expect("JSON");
    assert_eq!(doc["source"]["inventory"]["matches_verify"], false);
}

// --------------------------------------------------------------------- diff

#[test]
fn diff_lists_status_changes_hosts_and_score_deltas() {
    let out = rampart()
        .args(["report", "--diff"])
        .arg(fixture("verify-before.json"))
        .arg(fixture("verify-after.json"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "differences: exit 1");
    let d = text(&out.stdout);
    for want in [
        "fleet score: 77.9 % → 99.5 % (+21.6)",
        "1 regression(s), 99 fixed",
        "r-report-1 — compliant → drift; score 100.0 % → 99.3 % (-0.7)",
        "  - KRN-18  [medium]   pass → fail  ICMP redirects are not sent",
        "r-report-2 — drift → compliant; score 96.0 % → 100.0 % (+4.0)",
        "  + SSH-05  [high]     fail → pass  Direct root login over SSH is refused",
        "r-report-3 — drift; score 38.5 % → 99.3 % (+60.8)",
        "  + FW-02   [critical] fail → pass  The live firewall table matches",
    ] {
        assert!(d.contains(want), "{want:?} missing from:\n{d}");
    }
    assert!(
        !d.contains("host added") && !d.contains("host removed"),
        "{d}"
    );

    let json = rampart()
        .args(["report", "--format", "json", "--diff"])
        .arg(fixture("verify-before.json"))
        .arg(fixture("verify-after.json"))
        .output()
        .expect("runs");
    let doc: Value = serde_json::from_slice(&json.stdout).expect("JSON diff");
    assert_eq!(doc["score"]["old"], 77.9);
    let r3 = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "r-report-3")
        .expect("r-report-3");
    // 93 fixed, and 2 that did not apply before (cron directories absent).
    assert_eq!(r3["changes"].as_array().unwrap().len(), 95);

    // A report JSON is a run too; a host missing from one side is reported.
    let tmp = tempfile::tempdir().expect("tempdir");
    report(tmp.path(), &[]);
    let mut after = read_json(&fixture("verify-after.json"));
    after["hosts"]
        .as_array_mut()
        .unwrap()
        .retain(|h| h["host"] != "r-report-2");
    after["results"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r["host"] != "r-report-2");
    // Beside the report, not in its folder: `files` keys by extension, and
    // a second .json there would stand in for the report's in read_dir order.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let trimmed = elsewhere.path().join("after-without-2.json");
    std::fs::write(&trimmed, serde_json::to_string(&after).unwrap()).expect("write");
    let out = rampart()
        .args(["report", "--format", "md", "--diff"])
        .arg(&files(tmp.path())["json"])
        .arg(&trimmed)
        .output()
        .expect("runs");
    let md = text(&out.stdout);
    assert!(
        md.starts_with("### rampart: changes between two runs"),
        "{md}"
    );
    assert!(md.contains("host removed: r-report-2"), "{md}");

    let same = rampart()
        .args(["report", "--diff"])
        .arg(fixture("verify-after.json"))
        .arg(fixture("verify-after.json"))
        .output()
        .expect("runs");
    assert_eq!(same.status.code(), Some(0));
    assert!(text(&same.stdout).contains("no differences"));
}

// ------------------------------------------------------------- no secrets

#[test]
fn reports_carry_no_secrets_or_unbounded_output() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut run = read_json(&fixture("verify-before.json"));
    let key_block = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----";
    let age_key = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";
    let hash = "$6$rounds=656000$YQKMBcOFHRPkbQ2V$0nq4aSBrIK4wUzjYzFbS5V8rZmrVQl4D7pJ2rAvNTnW";
    let results = run["results"].as_array_mut().unwrap();
    results[0]["evidence"]["excerpt"] = Value::String(format!(
        "{key_block}\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n{age_key}\nroot:{hash}:19000:0:99999:7:::\nalice.martin@example.com\n{}",
        "A".repeat(20_000)
    ));
    results[1]["observed"] = Value::String(format!("deploy:{hash}"));
    // The operator's declared e-mail, also where a key comment carries it;
    // an undeclared address in a key comment is evidence.
    results[2]["evidence"]["excerpt"] = Value::String(
        "ssh-ed25519 AAAAC3Nza Alice.Martin@example.com\nssh-ed25519 AAAAC3Nzb deploy-bot@ci.example.org".into(),
    );
    let saved = tmp.path().join("run.json");
    std::fs::write(&saved, serde_json::to_string(&run).unwrap()).expect("write");
    // The fixture's inventory, with a contact for its operator.
    let inv_text = std::fs::read_to_string(fixture("inventory.yaml")).expect("inventory");
    let inv_text = inv_text.replacen(
        "  - name: ops\n",
        "  - name: ops\n    contact: alice.martin@example.com\n",
        1,
    );
    assert!(inv_text.contains("contact: alice.martin@example.com"));
    let inventory = tmp.path().join("inventory.yaml");
    std::fs::write(&inventory, inv_text).expect("write");
    let out_dir = tmp.path().join("out");
    let out = rampart()
        .arg("-i")
        .arg(&inventory)
        .args(["report", "--from"])
        .arg(&saved)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    for (ext, p) in files(&out_dir) {
        let body = std::fs::read_to_string(&p).expect("read");
        for secret in [
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
            "PRIVATE KEY-----",
            "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk",
            "GFPYYSJZGFPYYSJZ",
            "YQKMBcOFHRPkbQ2V",
            "alice.martin@example.com",
            "Alice.Martin@example.com",
        ] {
            assert!(!body.contains(secret), "{secret} in the {ext} report");
        }
        // OpenSSH algorithm names are evidence, not e-mail addresses
        // (SSH-19 and SSH-21 of every host carry them), and so is an
        // undeclared key comment.
        for evidence in [
            "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org",
            "hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com",
            "umac-64-etm@openssh.com,umac-128-etm@openssh.com",
        ] {
            assert!(
                body.contains(evidence),
                "{evidence} missing from the {ext} report"
            );
        }
        // Markdown carries failures only, not every excerpt.
        if ext != "md" {
            assert!(body.contains("deploy-bot@ci.example.org"), "{ext} report");
        }
        assert!(
            !body.contains(&"A".repeat(1_300)),
            "evidence is bounded in the {ext} report"
        );
    }
    let json = read_json(&files(&out_dir)["json"]);
    let excerpt = json["verify"]["results"][0]["evidence"]["excerpt"]
        .as_str()
        .unwrap();
    assert!(excerpt.contains("[private key removed]"), "{excerpt}");
    assert!(excerpt.contains("[truncated:"), "{excerpt}");
    let comment = json["verify"]["results"][2]["evidence"]["excerpt"]
        .as_str()
        .unwrap();
    assert_eq!(
        comment,
        "ssh-ed25519 AAAAC3Nza [e-mail removed]\nssh-ed25519 AAAAC3Nzb deploy-bot@ci.example.org"
    );
    for r in json["verify"]["results"].as_array().unwrap() {
        if r["id"] == "SSH-19" || r["id"] == "SSH-21" {
            let observed = r["observed"].as_str().unwrap();
            assert!(!observed.contains("[e-mail removed]"), "{observed}");
            assert!(observed.contains("@openssh.com"), "{observed}");
        }
    }
    // Operator names stay: they are what auditors check.
    assert!(std::fs::read_to_string(&files(&out_dir)["html"])
        .unwrap()
        .contains("operators ops"));
}

#[test]
fn without_an_inventory_residency_is_not_judged_and_says_so() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = rampart()
        .current_dir(tmp.path())
        .args(["report", "--format", "json", "--from"])
        .arg(fixture("verify-before.json"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let f = files(tmp.path());
    assert_eq!(f.keys().collect::<Vec<_>>(), ["json"], "--format json only");
    let doc = read_json(&f["json"]);
    assert_eq!(doc["residency"]["inventory_available"], false);
    assert!(doc["source"].get("inventory").is_none());
    // RES-01 was judged at verify time and stays in the results.
    assert!(doc["failures"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == "RES-01"));
}

// -------------------------------------------------------------------- JUnit

/// A parsed XML element (enough of XML for rampart's JUnit).
#[derive(Debug)]
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<Element>,
}

/// Parses well-formed XML (prolog, elements, attributes in double quotes,
/// escaped text); panics on anything malformed.
fn parse_xml(xml: &str) -> Element {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("XML declaration");
    let check_text = |t: &str| {
        assert!(!t.contains('<'), "raw < in {t:?}");
        let mut rest = t;
        while let Some(i) = rest.find('&') {
            let entity = &rest[i..rest[i..].find(';').map(|j| i + j + 1).expect("entity ends")];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity),
                "unknown entity {entity}"
            );
            rest = &rest[i + 1..];
        }
        assert!(
            t.chars()
                .all(|c| c >= ' ' || matches!(c, '\n' | '\r' | '\t')),
            "control character in {t:?}"
        );
    };
    let mut stack: Vec<Element> = vec![Element {
        name: "#document".into(),
        attrs: BTreeMap::new(),
        children: Vec::new(),
    }];
    let mut rest = body;
    while !rest.is_empty() {
        let lt = rest.find('<').unwrap_or(rest.len());
        check_text(&rest[..lt]);
        rest = &rest[lt..];
        if rest.is_empty() {
            break;
        }
        let gt = rest.find('>').expect("tag ends");
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let done = stack.pop().expect("open element");
            assert_eq!(done.name, name, "mismatched end tag");
            stack.last_mut().expect("parent").children.push(done);
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, mut attrs_text) = tag.split_once(' ').unwrap_or((tag, ""));
        let mut attrs = BTreeMap::new();
        while let Some(eq) = attrs_text.find("=\"") {
            let key = attrs_text[..eq].trim().to_string();
            let value_end = attrs_text[eq + 2..].find('"').expect("attribute ends");
            let value = &attrs_text[eq + 2..eq + 2 + value_end];
            check_text(value);
            assert!(
                attrs.insert(key.clone(), value.to_string()).is_none(),
                "duplicate {key}"
            );
            attrs_text = &attrs_text[eq + 3 + value_end..];
        }
        assert!(attrs_text.trim().is_empty(), "junk in tag: {attrs_text:?}");
        let el = Element {
            name: name.to_string(),
            attrs,
            children: Vec::new(),
        };
        if self_closing {
            stack.last_mut().expect("parent").children.push(el);
        } else {
            stack.push(el);
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let mut doc = stack.pop().unwrap();
    assert_eq!(doc.children.len(), 1, "one root element");
    doc.children.pop().unwrap()
}

fn count(attrs: &BTreeMap<String, String>, key: &str) -> usize {
    attrs
        .get(key)
        .unwrap_or_else(|| panic!("attribute {key} missing"))
        .parse()
        .unwrap_or_else(|_| panic!("attribute {key} is not a count"))
}

/// The structure of the de-facto JUnit schema CI systems read (Jenkins'
/// junit-10.xsd, which GitLab and GitHub reporters follow): `testsuites` of
/// `testsuite`s (name, tests, failures, errors, skipped) of `testcase`s
/// (name, classname) holding at most one of failure / error / skipped,
/// with every count equal to what the elements contain.
#[test]
fn junit_from_verify_has_the_structure_ci_systems_read() {
    for f in ["verify-before.json", "verify-after.json"] {
        let run: rampart::report::VerifyRun =
            serde_json::from_value(read_json(&fixture(f))).expect("run");
        let root = parse_xml(&rampart::report::junit::render(&run));
        assert_eq!(root.name, "testsuites");
        let (mut tests, mut failures, mut errors) = (0, 0, 0);
        assert_eq!(root.children.len(), run.hosts.len(), "one suite per host");
        for suite in &root.children {
            assert_eq!(suite.name, "testsuite");
            assert!(suite.attrs.contains_key("name"));
            assert!(suite.attrs["timestamp"].ends_with('Z'));
            let mut seen = BTreeMap::from([("failure", 0), ("error", 0), ("skipped", 0)]);
            for case in &suite.children {
                assert_eq!(case.name, "testcase");
                assert!(case.attrs.contains_key("name") && case.attrs.contains_key("classname"));
                assert!(case.children.len() <= 1, "at most one outcome");
                for outcome in &case.children {
                    *seen
                        .get_mut(outcome.name.as_str())
                        .unwrap_or_else(|| panic!("unexpected <{}>", outcome.name)) += 1;
                    if outcome.name != "skipped" {
                        assert!(outcome.attrs.contains_key("message"));
                    }
                }
            }
            assert_eq!(count(&suite.attrs, "tests"), suite.children.len());
            assert_eq!(count(&suite.attrs, "failures"), seen["failure"]);
            assert_eq!(count(&suite.attrs, "errors"), seen["error"]);
            assert_eq!(count(&suite.attrs, "skipped"), seen["skipped"]);
            tests += suite.children.len();
            failures += seen["failure"];
            errors += seen["error"];
        }
        assert_eq!(count(&root.attrs, "tests"), tests, "{f}");
        assert_eq!(count(&root.attrs, "failures"), failures, "{f}");
        assert_eq!(count(&root.attrs, "errors"), errors, "{f}");
    }
}
