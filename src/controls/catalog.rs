//! The control catalog: profiles are YAML files (`profiles/*.yaml`, embedded
//! in the binary) whose entries each define one control completely — its ID,
//! title, rationale, severity, references, and one typed check. The check's
//! kind decides both how the control is verified against facts and which
//! resources `harden` manages for it, so adding a control is one entry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One profile file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Must equal the file name without `.yaml`.
    pub profile: String,
    pub title: String,
    /// Defaults of the variables its controls use (`{{ var }}` in values);
    /// a host's `vars:` override them.
    #[serde(default)]
    pub vars: BTreeMap<String, serde_yaml::Value>,
    /// Values that differ by release, keyed by os-release `VERSION_ID`
    /// ("12", "13"): they override `vars` on hosts of that release (a
    /// host's own `vars:` still win). The one place a release difference
    /// is written.
    #[serde(default)]
    pub releases: BTreeMap<String, ReleaseValues>,
    pub controls: Vec<Control>,
    /// Where this profile deliberately departs from a reference (CIS,
    /// ANSSI): stated once here, listed apart from failures (a deviation
    /// is a design decision with its reason, not drift or a waiver).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deviations: Vec<Deviation>,
}

/// One deliberate departure from a reference.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    /// Stable ID: `DEV-` and a number, e.g. DEV-03.
    pub id: String,
    /// The control it concerns, if one exists (`KRN-54`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    /// The recommendation departed from, e.g. "ANSSI BP-028 R12: arp_ignore = 2".
    pub reference: String,
    /// What rampart does instead.
    pub choice: String,
    /// Why.
    pub rationale: String,
}

/// What a profile sets differently on one release.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseValues {
    #[serde(default)]
    pub vars: BTreeMap<String, serde_yaml::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// References to the public baselines a control implements.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct References {
    /// CIS Debian Linux 12 Benchmark (v1.1.0) recommendation number, e.g. "5.1.20".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cis: Option<String>,
    /// ANSSI BP-028 v2.0 recommendation, e.g. "R29".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anssi: Option<String>,
    /// BSI IT-Grundschutz requirement, e.g. "SYS.1.3.A2".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bsi: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Stable ID: area prefix and number, e.g. SSH-04, KRN-12.
    pub id: String,
    pub title: String,
    pub rationale: String,
    pub severity: Severity,
    #[serde(default)]
    pub refs: References,
    /// Written as a one-key map: `check: { sshd: { option: …, value: … } }`.
    #[serde(with = "serde_yaml::with::singleton_map")]
    pub check: Check,
}

/// The typed checks. Values may use `{{ var }}` from the profile's vars.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// An sshd option, compared with the effective value from `sshd -T`
    /// (lowercase keyword). Managed in rampart's /etc/ssh/sshd_config.
    Sshd { option: String, value: String },
    /// A kernel parameter, compared with the live value. Managed in
    /// /etc/sysctl.d/90-rampart.conf and applied live. Kernel-global
    /// parameters (not net.*) are not applicable in a container.
    Sysctl { key: String, value: String },
    /// A package that must be installed.
    PackagePresent { name: String },
    /// A package that must not be installed (purged by harden).
    PackageAbsent { name: String },
    /// A systemd unit's state.
    Service {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        enabled: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        active: Option<bool>,
    },
    /// A unit that must be masked (or absent).
    ServiceMasked { name: String },
    /// Owner, group and the most permissive mode allowed for a path.
    FileMode {
        path: String,
        mode: String,
        owner: String,
        group: String,
    },
    /// A kernel module that must not load (`install NAME /bin/false` and
    /// `blacklist NAME` in /etc/modprobe.d/rampart-blacklist.conf).
    ModuleBlacklisted { name: String },
    /// A `KEY VALUE` setting in a whitespace-separated file such as
    /// /etc/login.defs (the last occurrence wins).
    LoginDefs { key: String, value: String },
    /// A journald setting, checked in the merged configuration
    /// (`systemd-analyze cat-config`), managed in a journald.conf.d drop-in.
    Journald { key: String, value: String },
    /// A file whose whole content rampart manages, rendered from a template
    /// in templates/.
    FileContent {
        path: String,
        template: String,
        mode: String,
        owner: String,
        group: String,
    },
    /// Mount options a mount point must carry (e.g. /tmp: nodev, nosuid).
    MountOptions { path: String, options: Vec<String> },
    /// Checks implemented in Rust for what cannot be expressed as data
    /// (accounts, authorized keys, sudo, audit rules, …); see controls/custom.rs.
    Custom { name: String },
}

impl Check {
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Sshd { .. } => "sshd",
            Check::Sysctl { .. } => "sysctl",
            Check::PackagePresent { .. } => "package_present",
            Check::PackageAbsent { .. } => "package_absent",
            Check::Service { .. } => "service",
            Check::ServiceMasked { .. } => "service_masked",
            Check::FileMode { .. } => "file_mode",
            Check::ModuleBlacklisted { .. } => "module_blacklisted",
            Check::LoginDefs { .. } => "login_defs",
            Check::Journald { .. } => "journald",
            Check::FileContent { .. } => "file_content",
            Check::MountOptions { .. } => "mount_options",
            Check::Custom { .. } => "custom",
        }
    }
}
