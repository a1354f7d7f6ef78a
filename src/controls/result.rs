//! One control judged on one host, as `verify` reports it
//! (schemas/verify.schema.json). Defined with the controls, which produce
//! it, so that they need nothing of `report`, the layer above.

use serde::{Deserialize, Serialize};

use super::{Evidence, References, Severity, Status};

/// One control judged on one host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ControlResult {
    pub id: String,
    pub host: String,
    pub profile: String,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub observed: String,
    pub expected: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub rationale: String,
    pub references: References,
    pub evidence: Evidence,
    /// When the facts behind the result were collected (RFC 3339, UTC).
    pub checked_at: String,
}
