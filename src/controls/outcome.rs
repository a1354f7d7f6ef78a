//! The result of judging one control on one host.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// The control cannot apply here (container limits, absent hardware):
    /// never counted as passed or failed.
    NotApplicable,
    /// The check could not be evaluated (a tool failed).
    Error,
    /// Accepted deviation recorded in the inventory, until its expiry.
    Waived,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotApplicable => "not_applicable",
            Status::Error => "error",
            Status::Waived => "waived",
        }
    }
}

/// What was run and what it showed, for auditors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub command: String,
    pub excerpt: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    pub observed: String,
    pub expected: String,
    /// Why not applicable, why waived, or what went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub evidence: Evidence,
}

impl Outcome {
    pub fn judge(
        ok: bool,
        observed: impl Into<String>,
        expected: impl Into<String>,
        evidence: Evidence,
    ) -> Outcome {
        Outcome {
            status: if ok { Status::Pass } else { Status::Fail },
            observed: observed.into(),
            expected: expected.into(),
            reason: None,
            evidence,
        }
    }

    /// Passes when `problems` is empty (observed: `all_good`), fails with the
    /// problems as the observed value otherwise.
    pub fn from_problems(
        problems: Vec<String>,
        all_good: impl Into<String>,
        expected: impl Into<String>,
        command: &str,
    ) -> Outcome {
        let observed = if problems.is_empty() {
            all_good.into()
        } else {
            problems.join("; ")
        };
        Outcome::judge(
            problems.is_empty(),
            observed.clone(),
            expected,
            evidence(command, observed),
        )
    }

    pub fn not_applicable(reason: impl Into<String>, expected: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::NotApplicable,
            observed: String::new(),
            expected: expected.into(),
            reason: Some(reason.into()),
            evidence: Evidence::default(),
        }
    }

    pub fn error(
        reason: impl Into<String>,
        expected: impl Into<String>,
        evidence: Evidence,
    ) -> Outcome {
        Outcome {
            status: Status::Error,
            observed: String::new(),
            expected: expected.into(),
            reason: Some(reason.into()),
            evidence,
        }
    }
}

pub fn evidence(command: &str, excerpt: impl Into<String>) -> Evidence {
    Evidence {
        command: command.to_string(),
        excerpt: excerpt.into(),
    }
}
