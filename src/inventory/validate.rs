//! Semantic checks that serde cannot express. Each rule reports at the exact
//! position of the offending value and says what was expected.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use super::canonical;
use super::locate::{Position, PositionIndex};
use super::model::{HostSpec, InventoryFile, Provider};
use super::residency;
use super::roles::{RoleError, RoleTable, PROFILES};
use super::{Diagnostic, Jump};

struct Checker<'a> {
    file: &'a Path,
    index: &'a PositionIndex,
    diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error_at(&mut self, position: Position, message: String) {
        self.diags.push(Diagnostic {
            file: self.file.to_path_buf(),
            position,
            message,
        });
    }

    fn error(&mut self, path: &str, message: String) {
        let pos = self.index.value(path);
        self.error_at(pos, message);
    }

    /// Reports at the key of `path`: for problems of a whole entry.
    fn error_key(&mut self, path: &str, message: String) {
        let pos = self
            .index
            .key(path)
            .unwrap_or_else(|| self.index.value(path));
        self.error_at(pos, message);
    }
}

pub(super) fn check(
    file: &Path,
    dir: &Path,
    inv: &InventoryFile,
    index: &PositionIndex,
    allow_no_hosts: bool,
) -> Vec<Diagnostic> {
    let mut c = Checker {
        file,
        index,
        diags: Vec::new(),
    };
    check_ssh(&mut c, inv);
    check_operators(&mut c, inv);
    check_removed_operators(&mut c, inv);
    check_recipients(&mut c, inv);
    check_profiles_dir(&mut c, dir, inv);
    let table = RoleTable::new(&inv.roles);
    check_role_definitions(&mut c, inv, &table);
    if inv.hosts.is_empty() && !allow_no_hosts {
        c.error(
            "hosts",
            "no hosts; expected at least one host under `hosts:` (`rampart inventory sync --provider hetzner|ovh --write` adds a provider's servers)".into(),
        );
    }
    check_hosts(&mut c, inv, &table);
    check_waivers(&mut c, inv, &table);
    check_flows(&mut c, inv, &table);
    check_mesh_links(&mut c, inv, &table);
    check_residency(&mut c, inv);
    check_proxy(&mut c, dir, inv);
    check_backup(&mut c, inv);
    c.diags
        .sort_by_key(|d| (d.position.line, d.position.column));
    c.diags
}

/// POSIX-portable login names as Debian's adduser accepts them by default.
pub(super) fn is_valid_user_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn check_ssh(c: &mut Checker, inv: &InventoryFile) {
    for (key, user) in [
        ("ssh.user", &inv.ssh.user),
        ("ssh.bootstrap_user", &inv.ssh.bootstrap_user),
    ] {
        if !is_valid_user_name(user) {
            c.error(
                key,
                format!("invalid user name {user:?}; expected lowercase letters, digits, `_` or `-`, starting with a letter or `_`"),
            );
        }
    }
    for (key, secs) in [
        ("connect_timeout", inv.ssh.connect_timeout),
        ("command_timeout", inv.ssh.command_timeout),
    ] {
        if secs == 0 {
            c.error(
                &format!("ssh.{key}"),
                format!("{key} 0; expected a number of seconds, at least 1"),
            );
        }
    }
    if inv.ssh.port == 0 {
        c.error("ssh.port", "port 0; expected a port from 1 to 65535".into());
    }
    if let Some(j) = &inv.ssh.jump {
        if let Jump::Address { host, .. } = parse_jump(j, inv) {
            if host.is_empty() || (j.contains(':') && j.rsplit_once(':').is_none()) {
                c.error(
                    "ssh.jump",
                    format!("invalid jump {j:?}; expected an inventory host name or host:port"),
                );
            } else if j
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_err())
            {
                c.error("ssh.jump", format!("invalid port in jump {j:?}; expected host:port with a port from 1 to 65535"));
            } else if let Some(problem) = canonical::address_problem(&host) {
                c.error("ssh.jump", format!("jump {j:?} is not an inventory host, and {problem}; or one of the hosts: {}", host_names(inv)));
            }
        }
    }
}

fn host_names(inv: &InventoryFile) -> String {
    inv.hosts.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// Interprets `ssh.jump`: an inventory host name wins over an address.
pub(super) fn parse_jump(j: &str, inv: &InventoryFile) -> Jump {
    if inv.hosts.contains_key(j) {
        return Jump::Host(j.to_string());
    }
    let (host, port) = match j.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => (
            h.trim_matches(['[', ']']).to_string(),
            p.parse().unwrap_or(0),
        ),
        _ => (j.to_string(), 22),
    };
    Jump::Address { host, port }
}

fn check_operators(c: &mut Checker, inv: &InventoryFile) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, op) in inv.operators.iter().enumerate() {
        let path = format!("operators[{i}]");
        if !is_valid_user_name(&op.name) {
            c.error(
                &format!("{path}.name"),
                format!("invalid operator name {:?}; expected a login name (lowercase letters, digits, `_`, `-`)", op.name),
            );
        }
        if let Some(first) = seen.insert(&op.name, i) {
            c.error(
                &format!("{path}.name"),
                format!("duplicate operator `{}` (also operators[{first}]); expected each operator once", op.name),
            );
        }
        if op.keys.is_empty() {
            c.error(
                &path,
                format!(
                    "operator `{}` has no keys; expected at least one OpenSSH public key",
                    op.name
                ),
            );
        }
        if let Some(contact) = &op.contact {
            if !is_email_address(contact) {
                c.error(
                    &format!("{path}.contact"),
                    format!("invalid contact {contact:?}; expected an e-mail address such as name@example.eu"),
                );
            }
        }
        for (k, key) in op.keys.iter().enumerate() {
            if let Err(e) = russh::keys::ssh_key::PublicKey::from_openssh(key.trim()) {
                c.error(
                    &format!("{path}.keys[{k}]"),
                    format!("not an OpenSSH public key ({e}); expected e.g. \"ssh-ed25519 AAAA… name@host\""),
                );
            }
        }
    }
}

/// Former operators: a login name, a real date, valid keys, and not also
/// a current operator (one cannot be both).
fn check_removed_operators(c: &mut Checker, inv: &InventoryFile) {
    for (i, r) in inv.removed_operators.iter().enumerate() {
        let path = format!("removed_operators[{i}]");
        if !is_valid_user_name(&r.name) {
            c.error(
                &format!("{path}.name"),
                format!("invalid operator name {:?}; expected a login name (lowercase letters, digits, `_`, `-`)", r.name),
            );
        }
        if inv.operators.iter().any(|o| o.name == r.name) {
            c.error(
                &format!("{path}.name"),
                format!("`{}` is both an operator and a removed operator; expected it in one list only (remove it from `operators:` to offboard it)", r.name),
            );
        }
        if crate::calendar::days_from_date(&r.removed).is_none() {
            c.error(
                &format!("{path}.removed"),
                format!(
                    "invalid date {:?}; expected the removal date as YYYY-MM-DD",
                    r.removed
                ),
            );
        }
        for (k, key) in r.keys.iter().enumerate() {
            if let Err(e) = russh::keys::ssh_key::PublicKey::from_openssh(key.trim()) {
                c.error(
                    &format!("{path}.keys[{k}]"),
                    format!("not an OpenSSH public key ({e}); expected e.g. \"ssh-ed25519 AAAA… name@host\""),
                );
            }
        }
    }
}

/// `local@domain.tld`: one `@`, no spaces, commas or angle brackets, a
/// dot in the domain.
fn is_email_address(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let bad =
        |p: &str| p.is_empty() || p.contains(['@', ' ', ',', '<', '>', '"', '\'', '\n', '\t']);
    !bad(local)
        && !bad(domain)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

fn check_recipients(c: &mut Checker, inv: &InventoryFile) {
    for (i, r) in inv.secrets.recipients.iter().enumerate() {
        if age::x25519::Recipient::from_str(r.trim()).is_err() {
            c.error(
                &format!("secrets.recipients[{i}]"),
                format!("{r:?} is not an age recipient; expected an X25519 recipient starting with \"age1\" (age-keygen -y)"),
            );
        }
    }
}

fn check_profiles_dir(c: &mut Checker, dir: &Path, inv: &InventoryFile) {
    if let Some(p) = &inv.profiles_dir {
        let full = super::anchor(dir, p);
        if !full.is_dir() {
            c.error(
                "profiles_dir",
                format!("{} is not a directory; expected a directory of profile files (relative to the inventory)", full.display()),
            );
        }
    }
}

fn role_error_message(e: &RoleError, table: &RoleTable) -> String {
    match e {
        RoleError::Unknown(name) => format!(
            "unknown role or profile `{name}`; expected one of roles [{}] or profiles [{}]",
            table.names().collect::<Vec<_>>().join(", "),
            PROFILES.join(", ")
        ),
        RoleError::Cycle(trail) => format!(
            "roles refer to each other in a cycle: {}",
            trail.join(" → ")
        ),
    }
}

fn check_role_definitions(c: &mut Checker, inv: &InventoryFile, table: &RoleTable) {
    for (role, members) in &inv.roles {
        if PROFILES.contains(&role.as_str()) {
            c.error(
                &format!("roles.{role}"),
                format!("role `{role}` has the name of a profile; expected a name that is not one of [{}]", PROFILES.join(", ")),
            );
        }
        for (i, m) in members.iter().enumerate() {
            if let Err(e) = table.profiles_of(m) {
                c.error(&format!("roles.{role}[{i}]"), role_error_message(&e, table));
                break;
            }
        }
    }
}

#[cfg(test)]
fn is_valid_address(a: &str) -> bool {
    canonical::address_problem(a).is_none()
}

pub(super) fn is_valid_host_name(name: &str) -> bool {
    is_valid_dns_name(name) && !(name.contains('.') && name.len() > 63)
}

fn is_valid_dns_name(a: &str) -> bool {
    canonical::is_dns_name(a)
}

fn check_hosts(c: &mut Checker, inv: &InventoryFile, table: &RoleTable) {
    let mut addresses: HashMap<(String, u16), &str> = HashMap::new();
    let mut mesh: HashMap<IpAddr, &str> = HashMap::new();
    for (name, h) in &inv.hosts {
        let base = format!("hosts.{name}");
        if !is_valid_host_name(name) {
            c.error_at(
                c.index.key(&base).unwrap_or_default(),
                format!("invalid host name {name:?}; expected letters, digits and `-`"),
            );
        }
        let port = h.port.unwrap_or(inv.ssh.port);
        if h.port == Some(0) {
            c.error(
                &format!("{base}.port"),
                "port 0; expected a port from 1 to 65535".into(),
            );
        }
        match &h.address {
            None if h.create.is_none() => c.error_key(
                &base,
                "host has no address; expected `address:` (an IP address or DNS name), or `create:` for a Hetzner Cloud server that provision creates".into(),
            ),
            None => {}
            Some(address) => {
                if let Some(problem) = canonical::address_problem(address) {
                    c.error(&format!("{base}.address"), problem);
                }
                if let Some(other) = addresses.insert((canonical::address_key(address), port), name) {
                    c.error(
                        &format!("{base}.address"),
                        format!("address {} is already used by host `{other}`; expected each host at its own address", canonical::with_port(address, port)),
                    );
                }
            }
        }
        check_create(c, &base, h);
        if let Some(m) = h.mesh_address {
            if let Some(problem) = canonical::mesh_problem(m, inv.mesh.network) {
                c.error(&format!("{base}.mesh_address"), problem);
            }
            if let Some(other) = mesh.insert(m, name) {
                c.error(
                    &format!("{base}.mesh_address"),
                    format!("mesh address {m} is already used by host `{other}`; expected a unique mesh address"),
                );
            }
        }
        check_host_roles(c, &base, &h.roles, table, h.mesh_address.is_some());
        if let Some(loc) = &h.location {
            if loc.is_empty()
                || !loc
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
            {
                c.error(&format!("{base}.location"), format!("invalid location {loc:?}; expected a provider location code such as fsn1 or gra"));
            }
        }
        for (i, d) in h.disks.iter().enumerate() {
            if h.disks[..i].contains(d) {
                c.error(
                    &format!("{base}.disks[{i}]"),
                    format!(
                        "disk {:?} is declared twice; expected each device once",
                        d.display().to_string()
                    ),
                );
            }
            if let Some(problem) = canonical::disk_problem(&d.to_string_lossy()) {
                c.error(&format!("{base}.disks[{i}]"), problem);
            }
        }
    }
}

/// `create:` is for Hetzner Cloud, and must name what `POST /servers`
/// accepts.
fn check_create(c: &mut Checker, base: &str, h: &HostSpec) {
    let Some(create) = &h.create else {
        return;
    };
    let at = format!("{base}.create");
    if h.provider != Provider::Hetzner {
        c.error_key(
            &at,
            format!(
                "`create:` makes rampart create a Hetzner Cloud server, but this host has `provider: {}`; expected `provider: hetzner`",
                h.provider.as_str()
            ),
        );
    }
    let is_name = |v: &str| {
        !v.is_empty()
            && v.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
    };
    if !is_name(&create.server_type) {
        c.error(
            &format!("{at}.type"),
            format!(
                "invalid server type {:?}; expected a Hetzner Cloud server type such as cx22",
                create.server_type
            ),
        );
    }
    if !is_name(&create.image) {
        c.error(
            &format!("{at}.image"),
            format!(
                "invalid image {:?}; expected a Hetzner Cloud image name such as debian-12",
                create.image
            ),
        );
    }
    if let Some(network) = &create.network {
        if network.trim().is_empty() {
            c.error(
                &format!("{at}.network"),
                "empty network name; expected the name of a Hetzner Cloud network".into(),
            );
        }
    }
    let Some(site) = crate::sites::hcloud_site(&create.location) else {
        let cloud: Vec<&str> = crate::sites::SITES
            .iter()
            .filter(|s| s.hcloud)
            .map(|s| s.code)
            .collect();
        c.error(
            &format!("{at}.location"),
            format!(
                "unknown Hetzner Cloud location {:?}; expected one of {}",
                create.location,
                cloud.join(", ")
            ),
        );
        return;
    };
    if let Some(location) = &h.location {
        let same = residency::site_of(h.provider, location).is_some_and(|s| s.code == site.code);
        if !same {
            c.error(
                &format!("{base}.location"),
                format!(
                    "location {location:?} differs from create.location {:?}; expected the same location (or only create.location)",
                    create.location
                ),
            );
        }
    }
}

/// The residency policy's countries are ISO codes, and under a policy every
/// host's location must name a known site: an unknown or missing location
/// cannot be proven compliant, so it is an input error rather than a pass.
fn check_residency(c: &mut Checker, inv: &InventoryFile) {
    let Some(policy) = &inv.residency else {
        return;
    };
    if policy.countries.is_empty() {
        c.error(
            "residency.countries",
            "no countries; expected at least one ISO 3166-1 alpha-2 code, e.g. [DE, FR] (remove `residency:` for no policy)".into(),
        );
        return;
    }
    let mut seen = HashMap::new();
    for (i, code) in policy.countries.iter().enumerate() {
        let path = format!("residency.countries[{i}]");
        if let Some(message) = residency::country_error(code) {
            c.error(&path, message);
        } else if let Some(first) = seen.insert(code.as_str(), i) {
            c.error(
                &path,
                format!("{code} is listed twice (also residency.countries[{first}]); expected each country once"),
            );
        }
    }
    let policy_text = policy.countries.join(", ");
    for (name, h) in &inv.hosts {
        let base = format!("hosts.{name}");
        let (location, path) = match (&h.location, &h.create) {
            (Some(l), _) => (l, format!("{base}.location")),
            (None, Some(create)) => (&create.location, format!("{base}.create.location")),
            (None, None) => {
                c.error_key(
                    &base,
                    format!("host has no `location:`, so residency [{policy_text}] cannot be proven; expected the provider location code (e.g. fsn1, gra)"),
                );
                continue;
            }
        };
        if residency::site_of(h.provider, location).is_none() {
            // A bad create.location is reported by check_create already.
            if path.ends_with("create.location") {
                continue;
            }
            c.error(
                &path,
                format!(
                    "unknown location {location:?} for provider {}, so residency [{policy_text}] cannot be judged; expected one of {}",
                    h.provider.as_str(),
                    residency::known_codes(h.provider)
                ),
            );
        }
    }
}

/// Server names are DNS names; certificate files must exist (they are read
/// by every plan of an edge).
fn check_proxy(c: &mut Checker, dir: &Path, inv: &InventoryFile) {
    for (key, name) in [
        ("proxy.server_name", &inv.proxy.server_name),
        ("proxy.api_server_name", &inv.proxy.api_server_name),
    ] {
        if let Some(n) = name {
            if !is_valid_dns_name(n) || IpAddr::from_str(n).is_ok() {
                c.error(
                    key,
                    format!(
                        "invalid server name {n:?}; expected a DNS name such as app.example.eu"
                    ),
                );
            }
        }
    }
    if let super::model::CertificateSource::Files { cert, key } = &inv.proxy.certificate {
        for (field, p) in [("cert", cert), ("key", key)] {
            let full = super::anchor(dir, p);
            if !full.is_file() {
                c.error(
                    &format!("proxy.certificate.files.{field}"),
                    format!(
                        "{} is not a file; expected a PEM {} (relative to the inventory)",
                        full.display(),
                        if field == "cert" {
                            "certificate chain"
                        } else {
                            "private key"
                        }
                    ),
                );
            }
        }
    }
    if let super::model::CertificateSource::Acme(a) = &inv.proxy.certificate {
        check_acme(c, dir, a);
    }
}

/// The ACME directory is an https URL (the account key and orders travel
/// to it), contacts are URIs, the CA bundle exists, renewal is sensible.
fn check_acme(c: &mut Checker, dir: &Path, a: &super::model::AcmeSettings) {
    let https = url::Url::parse(&a.directory)
        .ok()
        .is_some_and(|u| u.scheme() == "https" && u.host_str().is_some());
    if !https {
        c.error(
            "proxy.certificate.acme.directory",
            format!(
                "invalid ACME directory {:?}; expected an https URL such as https://acme.example.eu/directory",
                a.directory
            ),
        );
    }
    for (i, contact) in a.contact.iter().enumerate() {
        let rest = contact.strip_prefix("mailto:").unwrap_or_default();
        if !rest.contains('@') || rest.contains([' ', ',']) {
            c.error(
                &format!("proxy.certificate.acme.contact[{i}]"),
                format!("invalid contact {contact:?}; expected mailto:name@example.eu"),
            );
        }
    }
    if let Some(bundle) = &a.ca_bundle {
        let full = super::anchor(dir, bundle);
        if !full.is_file() {
            c.error(
                "proxy.certificate.acme.ca_bundle",
                format!(
                    "{} is not a file; expected PEM certificates to trust for the ACME server (relative to the inventory)",
                    full.display()
                ),
            );
        }
    }
    if !(1..=365).contains(&a.renew_days) {
        c.error(
            "proxy.certificate.acme.renew_days",
            format!(
                "renew_days {} is out of range; expected 1 to 365",
                a.renew_days
            ),
        );
    }
}

/// PostgreSQL database names rampart accepts: they reach `pg_dump`,
/// unit names and file names, so only `^[a-z_][a-z0-9_]{0,62}$`.
pub(super) fn is_valid_database_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `backup:` and the hosts' `databases:`: a schedule in canonical form,
/// keep_days 7..14, targets that are hosts with the backup role, database
/// names safe for a shell, recipients to encrypt to.
fn check_backup(c: &mut Checker, inv: &InventoryFile) {
    for (name, h) in &inv.hosts {
        let base = format!("hosts.{name}");
        if !h.databases.is_empty() && !h.roles.iter().any(|r| r == "db") {
            c.error_key(
                &format!("{base}.databases"),
                "databases are backed up on hosts with the `db` role; expected `db` in this host's roles".into(),
            );
        }
        if !h.databases.is_empty() && inv.backup.is_none() {
            c.error_key(
                &format!("{base}.databases"),
                "databases are declared but there is no `backup:` section; expected `backup:` with schedule, keep_days and targets".into(),
            );
        }
        for (i, d) in h.databases.iter().enumerate() {
            let at = format!("{base}.databases[{i}]");
            if !is_valid_database_name(d) {
                c.error(
                    &at,
                    format!("invalid database name {d:?}; expected lowercase letters, digits and `_`, starting with a letter or `_`, at most 63 characters"),
                );
            } else if h.databases[..i].contains(d) {
                c.error(
                    &at,
                    format!("database `{d}` is listed twice; expected each database once"),
                );
            }
        }
    }
    let Some(b) = &inv.backup else {
        return;
    };
    if let Err(e) = super::schedule::parse(&b.schedule) {
        c.error("backup.schedule", e);
    }
    if !(7..=14).contains(&b.keep_days) {
        c.error(
            "backup.keep_days",
            format!(
                "keep_days {} is out of range; expected 7 to 14 (days an artifact is kept before rotation deletes it)",
                b.keep_days
            ),
        );
    }
    if !(1..=365).contains(&b.drill_max_age_days) {
        c.error(
            "backup.drill_max_age_days",
            format!(
                "drill_max_age_days {} is out of range; expected 1 to 365",
                b.drill_max_age_days
            ),
        );
    }
    if b.targets.is_empty() {
        c.error(
            "backup.targets",
            "no targets; expected at least one host with the `backup` role".into(),
        );
    }
    for (i, t) in b.targets.iter().enumerate() {
        let at = format!("backup.targets[{i}]");
        match inv.hosts.get(t) {
            None => c.error(
                &at,
                format!("unknown host `{t}`; expected one of: {}", host_names(inv)),
            ),
            Some(h) if !h.roles.iter().any(|r| r == "backup") => c.error(
                &at,
                format!(
                    "host `{t}` has roles [{}], not `backup`; expected a host with the `backup` role",
                    h.roles.join(", ")
                ),
            ),
            Some(_) if b.targets[..i].contains(t) => c.error(
                &at,
                format!("target `{t}` is listed twice; expected each target once"),
            ),
            Some(_) => {}
        }
    }
    if inv.secrets.recipients.is_empty() {
        c.error_key(
            "backup",
            "backups are encrypted to secrets.recipients, and there are none; add an age recipient (age1…) under secrets.recipients".into(),
        );
    }
}

fn check_flows(c: &mut Checker, inv: &InventoryFile, table: &RoleTable) {
    for (i, f) in inv.flows.iter().enumerate() {
        for (key, name) in [("from", &f.from), ("to", &f.to)] {
            if !inv.hosts.contains_key(name) && !table.is_role(name) {
                c.error(&format!("flows[{i}].{key}"), format!("`{name}` is neither a host nor a role; expected one of the hosts ({}) or roles", host_names(inv)));
            }
        }
        if f.port == 0 {
            c.error(
                &format!("flows[{i}].port"),
                "port 0; expected a port from 1 to 65535".into(),
            );
        }
    }
}

fn check_mesh_links(c: &mut Checker, inv: &InventoryFile, table: &RoleTable) {
    let m = &inv.mesh;
    if m.port == 0 {
        c.error(
            "mesh.port",
            "port 0; expected a port from 1 to 65535".into(),
        );
    }
    if m.preshared_keys && inv.secrets.recipients.is_empty() {
        c.error(
            "mesh.preshared_keys",
            "preshared keys are kept age-encrypted to secrets.recipients, and there are none; add an age recipient (age1…) under secrets.recipients".into(),
        );
    }
    for (i, (a, b)) in m.links.iter().flatten().enumerate() {
        for (j, name) in [a, b].into_iter().enumerate() {
            if !inv.hosts.contains_key(name) && !table.is_role(name) {
                c.error(&format!("mesh.links[{i}][{j}]"), format!("`{name}` is neither a host nor a role; expected one of the hosts ({}) or roles", host_names(inv)));
            }
        }
    }
}

fn check_waivers(c: &mut Checker, inv: &InventoryFile, table: &RoleTable) {
    for (i, w) in inv.waivers.iter().enumerate() {
        let base = format!("waivers[{i}]");
        let valid_id = w.control.split_once('-').is_some_and(|(a, n)| {
            !a.is_empty()
                && a.chars().all(|ch| ch.is_ascii_uppercase())
                && !n.is_empty()
                && n.chars().all(|ch| ch.is_ascii_digit())
        });
        if !valid_id {
            c.error(
                &format!("{base}.control"),
                format!(
                    "invalid control id {:?}; expected an ID such as SSH-04",
                    w.control
                ),
            );
        }
        if w.reason.trim().is_empty() {
            c.error(
                &format!("{base}.reason"),
                "empty reason; expected why the deviation is accepted".into(),
            );
        }
        if crate::calendar::days_from_date(&w.expires).is_none() {
            c.error(
                &format!("{base}.expires"),
                format!("invalid date {:?}; expected YYYY-MM-DD", w.expires),
            );
        }
        for (j, h) in w.hosts.iter().enumerate() {
            if !inv.hosts.contains_key(h) {
                c.error(
                    &format!("{base}.hosts[{j}]"),
                    format!("unknown host `{h}`; expected one of: {}", host_names(inv)),
                );
            }
        }
        for (j, r) in w.roles.iter().enumerate() {
            if !table.is_role(r) {
                c.error(
                    &format!("{base}.roles[{j}]"),
                    format!(
                        "unknown role `{r}`; expected one of: {}",
                        table.names().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
    }
}

fn check_host_roles(
    c: &mut Checker,
    base: &str,
    roles: &[String],
    table: &RoleTable,
    has_mesh_address: bool,
) {
    if roles.is_empty() {
        c.error(
            base,
            format!(
                "host has no roles; expected `roles:` with at least one of [{}]",
                table.names().collect::<Vec<_>>().join(", ")
            ),
        );
    }
    let mut needs_mesh = None;
    for (i, r) in roles.iter().enumerate() {
        match table.profiles_of(r) {
            Err(e) => c.error(&format!("{base}.roles[{i}]"), role_error_message(&e, table)),
            Ok(p) if p.iter().any(|x| x == "mesh") => needs_mesh = Some(r.clone()),
            Ok(_) => {}
        }
    }
    if let (Some(role), false) = (needs_mesh, has_mesh_address) {
        c.error_key(
            base,
            format!("role `{role}` includes the mesh profile, so the host needs `mesh_address:` (its WireGuard address, e.g. 10.99.0.1)"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_follow_debian_rules() {
        assert!(is_valid_user_name("ops"));
        assert!(is_valid_user_name("_svc-1"));
        assert!(!is_valid_user_name("Ops"));
        assert!(!is_valid_user_name("1ops"));
        assert!(!is_valid_user_name(""));
    }

    #[test]
    fn dns_names_and_addresses() {
        assert!(is_valid_address("198.51.100.7"));
        assert!(is_valid_address("2001:db8::1"));
        assert!(is_valid_address("edge-1.example.eu"));
        assert!(!is_valid_address("edge_1"));
        assert!(!is_valid_address("-bad"));
    }
}
