//! Issue 14 §3, hostile and sloppy inventories: each case found by the
//! malformed-input corpus and the mutation fuzzer, with its exact message
//! (insta snapshots in `tests/snapshots/`). Library-level cases parse text;
//! the ones about files, the command line and exit codes run the binary.

mod common;

use std::path::Path;

use common::{rampart, text};
use rampart::inventory::Inventory;

fn errors(src: &str) -> String {
    match Inventory::parse(Path::new("inventory.yaml"), src) {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e.to_string(),
    }
}

/// One host `a` with the given extra lines (indented as host fields).
fn host_with(fields: &str) -> String {
    format!("hosts:\n  a:\n    roles: [base]\n{fields}")
}

/// Runs the binary in `dir` and returns (exit code, stderr).
fn run_in(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = rampart()
        .current_dir(dir)
        .env_remove("RAMPART_INVENTORY")
        .env_remove("RAMPART_AGE_IDENTITY")
        .args(args)
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .expect("runs");
    (out.status.code(), text(&out.stderr))
}

/// Replaces the temporary directory in messages so snapshots are stable.
fn stable(s: &str, dir: &Path) -> String {
    s.replace(&dir.display().to_string(), "$DIR")
}

// Addresses the system resolver rewrites.

#[test]
fn addresses_the_resolver_rewrites_are_refused() {
    let mut src = String::from("hosts:\n");
    for (i, a) in [
        "\"010.010.010.010\"",
        "\"127.1\"",
        "\"0x7f.0.0.1\"",
        "\"2130706433\"",
        "2130706434",
        "198.51.100.256",
    ]
    .iter()
    .enumerate()
    {
        src.push_str(&format!("  h{i}: {{address: {a}, roles: [base]}}\n"));
    }
    insta::assert_snapshot!(errors(&src));
}

#[test]
fn one_ipv6_address_written_two_ways_is_one_address() {
    insta::assert_snapshot!(errors(
        "hosts:\n  a: {address: \"2001:db8::7\", roles: [base]}\n  b: {address: \"2001:DB8:0:0::7\", roles: [base]}\n"
    ));
}

#[test]
fn disk_paths_that_are_not_canonical_devices_are_refused() {
    insta::assert_snapshot!(errors(&host_with(
        "    address: 10.0.0.1\n    disks:\n      - /dev/../etc/passwd\n      - /dev/vdb;reboot\n      - /dev/vdb vdc\n      - \"/dev/vdb\\nreboot\"\n      - /dev/disk/by-id/virtio-data1\n"
    )));
}

#[test]
fn mesh_addresses_must_be_unicast_and_inside_the_mesh_network() {
    let mut src = String::from("mesh:\n  network: 10.99.0.0/24\nhosts:\n");
    for (i, m) in [
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "127.0.0.1",
        "10.98.0.1",
        "10.99.0.255",
        "10.99.0.7",
    ]
    .iter()
    .enumerate()
    {
        src.push_str(&format!(
            "  h{i}: {{address: 10.0.0.{}, roles: [app], mesh_address: {m}}}\n",
            i + 1
        ));
    }
    insta::assert_snapshot!(errors(&src));
}

#[test]
fn yaml_tags_are_refused_where_they_are() {
    insta::assert_snapshot!(errors(
        "ssh:\n  port: !!str 22\n  user: !env USER\nhosts:\n  a: !!python/object/apply:os.system [\"id\"]\n"
    ));
}

#[test]
fn a_second_document_is_refused() {
    insta::assert_snapshot!(errors(
        "hosts:\n  a: {address: 10.0.0.1, roles: [base]}\n---\nhosts:\n  b: {address: 10.0.0.2, roles: [base]}\n"
    ));
}

#[test]
fn an_empty_file_says_what_to_write() {
    insta::assert_snapshot!("empty_file", errors(""));
    insta::assert_snapshot!("comment_only_file", errors("# nothing yet\n"));
    insta::assert_snapshot!("list_file", errors("- a\n- b\n"));
    insta::assert_snapshot!("no_hosts_key", errors("ssh:\n  user: ops\n"));
}

#[test]
fn duplicate_keys_are_located_at_the_duplicate() {
    insta::assert_snapshot!(errors(
        "ssh:\n  user: ops\n  port: 2222\n  user: root\nhosts:\n  a:\n    address: 10.0.0.1\n    roles: [base]\n    address: 10.0.0.2\n"
    ));
}

#[test]
fn zero_ports_and_timeouts_are_located_at_their_key() {
    insta::assert_snapshot!(errors(
        "ssh:\n  user: ops\n  port: 0\n  connect_timeout: 0\n  command_timeout: 0\nhosts:\n  a:\n    address: 10.0.0.1\n    roles: [base]\n    port: 0\n"
    ));
}

#[test]
fn control_characters_are_located() {
    insta::assert_snapshot!(errors(
        "hosts:\n  a:\n    address: 10.0.0.1\n    roles: [base]\n    vars: {motd: \"hi\u{7}there\"}\n"
    ));
}

// Files: FIFOs, devices, size, UTF-8.

#[test]
fn invalid_utf8_is_located_at_the_first_bad_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("inventory.yaml"),
        b"hosts:\n  a:\n    address: 10.0.0.1\n    roles: [base]\n    vars: {motd: \"caf\xe9\"}\n",
    )
    .expect("write");
    let (code, err) = run_in(dir.path(), &["inventory", "check"]);
    assert_eq!(code, Some(2), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn a_fifo_or_a_device_as_inventory_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo.yaml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let (code, err) = run_in(dir.path(), &["-i", "fifo.yaml", "inventory", "check"]);
    assert_eq!(code, Some(2), "{err}");
    insta::assert_snapshot!("fifo_inventory", err);
    let (code, err) = run_in(dir.path(), &["-i", "/dev/zero", "inventory", "check"]);
    assert_eq!(code, Some(2), "{err}");
    insta::assert_snapshot!("dev_zero_inventory", err);
}

#[test]
fn an_inventory_larger_than_64_mib_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = std::fs::File::create(dir.path().join("inventory.yaml")).expect("create");
    // Sparse: the size is what counts, not the bytes written.
    big.set_len(64 * 1024 * 1024 + 1).expect("set_len");
    let (code, err) = run_in(dir.path(), &["inventory", "check"]);
    assert_eq!(code, Some(2), "{err}");
    insta::assert_snapshot!(err);
}

// --limit and the command line.

fn fleet(dir: &Path, hosts: usize) {
    let mut src = String::from("hosts:\n");
    for i in 0..hosts {
        src.push_str(&format!(
            "  web-{i}: {{address: 10.{}.{}.{}, roles: [base]}}\n",
            i / 62_500,
            (i / 250) % 250,
            i % 250 + 1
        ));
    }
    std::fs::write(dir.join("inventory.yaml"), src).expect("write");
}

#[test]
fn limit_with_an_empty_term_or_an_invalid_glob_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    fleet(dir.path(), 3);
    for (name, limit) in [
        ("limit_comma", ","),
        ("limit_trailing_comma", "web-1,"),
        ("limit_bare_bang", "!"),
        ("limit_bad_glob", "["),
    ] {
        let (code, err) = run_in(dir.path(), &["--limit", limit, "inventory", "show"]);
        assert_eq!(code, Some(2), "{limit}: {err}");
        insta::assert_snapshot!(name, err);
    }
}

#[test]
fn a_limit_miss_on_a_large_fleet_shows_a_few_close_matches() {
    let dir = tempfile::tempdir().expect("tempdir");
    fleet(dir.path(), 20_000);
    let (code, err) = run_in(dir.path(), &["--limit", "web-1999x", "inventory", "show"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.len() < 1000, "{} bytes", err.len());
    insta::assert_snapshot!(err);
}

#[test]
fn a_negative_job_count_says_what_to_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    fleet(dir.path(), 1);
    let (code, err) = run_in(dir.path(), &["-j", "-1", "inventory", "show"]);
    assert_eq!(code, Some(2), "{err}");
    insta::assert_snapshot!(stable(&err, dir.path()));
}
