//! `ca/index.yaml`: the CA's record of what it issued and revoked. Written
//! by rampart only; public (no key material).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// clientAuth: a collector presenting itself to the edge.
    Client,
    /// serverAuth: an edge's own certificate (`self_signed` in the lab).
    Server,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    /// Hex, as the CRL lists it.
    pub serial: String,
    pub kind: Kind,
    /// Seconds since the epoch.
    pub not_after: i64,
    /// Seconds since the epoch; `None` while valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
    /// SHA-256 of a server key's PEM (kept encrypted under secrets/), so a
    /// host's copy can be compared without decrypting it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_sha256: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Number of the last CRL signed (CRL numbers only grow).
    #[serde(default)]
    pub crl_number: u64,
    #[serde(default)]
    pub certificates: Vec<Entry>,
}

impl Index {
    pub fn parse(text: &str) -> Result<Index, String> {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    pub fn render(&self) -> Result<String, String> {
        serde_yaml::to_string(self)
            .map(|t| format!("# rampart CA index: written by rampart, do not edit.\n{t}"))
            .map_err(|e| e.to_string())
    }

    /// The newest unrevoked certificate named `name`.
    pub fn current(&self, name: &str) -> Option<&Entry> {
        self.certificates
            .iter()
            .filter(|e| e.name == name && e.revoked_at.is_none())
            .max_by_key(|e| e.not_after)
    }

    /// The newest unrevoked certificate of `kind` named `name`.
    pub fn current_of(&self, name: &str, kind: Kind) -> Option<&Entry> {
        self.certificates
            .iter()
            .filter(|e| e.name == name && e.kind == kind && e.revoked_at.is_none())
            .max_by_key(|e| e.not_after)
    }
}
