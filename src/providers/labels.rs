//! Hetzner Cloud label selectors (`env=prod,role in (web,db),!legacy`),
//! parsed so the same selector can filter servers of providers whose API
//! has no labels (Robot, OVHcloud). A server without labels matches only
//! selectors made of negations, exactly as Hetzner Cloud would answer.

use std::collections::BTreeMap;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed label selector: all requirements must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses Hetzner Cloud's selector syntax: comma-separated `k`, `!k`,
    /// `k=v`, `k==v`, `k!=v`, `k in (v1,v2)`, `k notin (v1,v2)`.
    pub fn parse(selector: &str) -> Result<Self, String> {
        let requirements = split_top_level(selector)?
            .into_iter()
            .filter(|expr| !expr.trim().is_empty())
            .map(|expr| parse_requirement(expr.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LabelSelector { requirements })
    }

    /// True when every requirement holds for `labels`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|have| vs.contains(have)),
            Requirement::NotIn(k, vs) => !labels.get(k).is_some_and(|have| vs.contains(have)),
        }
    }
}

/// Splits on commas that are not inside `( )` value lists.
fn split_top_level(selector: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0u32;
    let mut start = 0;
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ')' in label selector {selector:?}"))?;
            }
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '(' in label selector {selector:?}"));
    }
    parts.push(&selector[start..]);
    Ok(parts)
}

fn parse_requirement(expr: &str) -> Result<Requirement, String> {
    if let Some(key) = expr.strip_prefix('!') {
        return Ok(Requirement::NotExists(checked_key(key, expr)?));
    }
    if let Some((key, rest)) = expr.split_once(char::is_whitespace) {
        let rest = rest.trim_start();
        if let Some(values) = rest.strip_prefix("notin") {
            return Ok(Requirement::NotIn(
                checked_key(key, expr)?,
                value_list(values, expr)?,
            ));
        }
        if let Some(values) = rest.strip_prefix("in") {
            return Ok(Requirement::In(
                checked_key(key, expr)?,
                value_list(values, expr)?,
            ));
        }
    }
    if let Some((key, value)) = expr.split_once("!=") {
        return Ok(Requirement::NotEquals(
            checked_key(key, expr)?,
            value.trim().to_string(),
        ));
    }
    if let Some((key, value)) = expr.split_once("==").or_else(|| expr.split_once('=')) {
        return Ok(Requirement::Equals(
            checked_key(key, expr)?,
            value.trim().to_string(),
        ));
    }
    Ok(Requirement::Exists(checked_key(expr, expr)?))
}

fn checked_key(key: &str, expr: &str) -> Result<String, String> {
    let key = key.trim();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(format!("invalid label selector expression {expr:?}"));
    }
    Ok(key.to_string())
}

fn value_list(values: &str, expr: &str) -> Result<Vec<String>, String> {
    let inner = values
        .trim()
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .ok_or_else(|| format!("expected a (value, ...) list in {expr:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn equality_and_existence() {
        let l = labels(&[("env", "prod"), ("role", "web")]);
        assert!(sel("env=prod").matches(&l));
        assert!(sel("env==prod,role").matches(&l));
        assert!(!sel("env=staging").matches(&l));
        assert!(sel("env!=staging").matches(&l));
        assert!(!sel("!role").matches(&l));
        assert!(sel("!legacy").matches(&l));
    }

    #[test]
    fn set_membership() {
        let l = labels(&[("env", "prod"), ("role", "db")]);
        assert!(sel("role in (web, db),env=prod").matches(&l));
        assert!(!sel("role notin (db)").matches(&l));
        assert!(sel("tier notin (gold)").matches(&l));
    }

    #[test]
    fn unlabelled_servers_match_only_negations() {
        let none = BTreeMap::new();
        assert!(!sel("env=prod").matches(&none));
        assert!(sel("!env").matches(&none));
        assert!(sel("env!=prod").matches(&none));
        assert!(sel("").matches(&none));
    }

    #[test]
    fn malformed_selectors_are_rejected() {
        assert!(LabelSelector::parse("role in (web").is_err());
        assert!(LabelSelector::parse("=prod").is_err());
        assert!(LabelSelector::parse("role in web").is_err());
    }
}
