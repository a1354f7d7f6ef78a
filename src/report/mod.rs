//! What verify found, and the ways it is written out: text for people,
//! JSON (documented by schemas/verify.schema.json) for machines, JUnit for
//! CI systems; and the compliance report built on it (`document`), as
//! HTML, JSON (schemas/report.schema.json) and Markdown, signed and
//! encrypted for delivery. Reports never contain secrets: results carry
//! observed values and evidence excerpts, never key material, and
//! `redact` bounds and scrubs them before any report is rendered.

pub mod diff;
pub mod document;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod redact;
pub mod residency;
pub mod sign;
pub mod text;

use serde::{Deserialize, Serialize};

// A verify result is what controls produce (RES-01/RES-02 build them
// directly), so the type sits in controls; the run's schema names it here.
pub use crate::controls::result::ControlResult;
use crate::controls::Status;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    Compliant,
    Drift,
    Unreachable,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostSummary {
    pub host: String,
    pub state: HostState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub pass: usize,
    pub fail: usize,
    pub not_applicable: usize,
    pub error_count: usize,
    pub waived: usize,
    /// Profiles the host's roles name that this version does not define yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles_not_built: Vec<String>,
}

/// A whole verify run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VerifyRun {
    pub schema: String,
    pub rampart_version: String,
    pub inventory: String,
    pub inventory_sha256: String,
    pub profiles_sha256: String,
    pub started_at: String,
    pub finished_at: String,
    pub hosts: Vec<HostSummary>,
    pub results: Vec<ControlResult>,
}

pub const SCHEMA_ID: &str = "https://rampart.invalid/schemas/verify-1.json";

impl HostSummary {
    pub fn from_results(
        host: &str,
        results: &[ControlResult],
        profiles_not_built: Vec<String>,
    ) -> HostSummary {
        let count = |s: Status| results.iter().filter(|r| r.status == s).count();
        let (fail, error_count) = (count(Status::Fail), count(Status::Error));
        HostSummary {
            host: host.to_string(),
            state: if fail + error_count == 0 {
                HostState::Compliant
            } else {
                HostState::Drift
            },
            error: None,
            pass: count(Status::Pass),
            fail,
            not_applicable: count(Status::NotApplicable),
            error_count,
            waived: count(Status::Waived),
            profiles_not_built,
        }
    }

    pub fn unreachable(host: &str, error: String) -> HostSummary {
        HostSummary {
            host: host.to_string(),
            state: HostState::Unreachable,
            error: Some(error),
            pass: 0,
            fail: 0,
            not_applicable: 0,
            error_count: 0,
            waived: 0,
            profiles_not_built: Vec::new(),
        }
    }
}

impl VerifyRun {
    pub fn any_unreachable(&self) -> bool {
        self.hosts.iter().any(|h| h.state == HostState::Unreachable)
    }
    pub fn any_drift(&self) -> bool {
        self.hosts.iter().any(|h| h.state == HostState::Drift)
    }
}
