//! The operating systems the profiles are written and tested for. What
//! differs between them lives in the profiles (`releases:` values); this
//! table only says which releases exist, so a host on anything else is
//! refused before a plan is made for it.

use crate::facts::Os;

/// One supported release, as `/etc/os-release` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// `ID=` in os-release.
    pub id: &'static str,
    /// `VERSION_ID=` in os-release, also the key of a profile's `releases:`.
    pub version: &'static str,
    pub codename: &'static str,
}

/// Debian 13 (trixie, stable) and Debian 12 (bookworm, oldstable).
pub const SUPPORTED: &[Release] = &[
    Release {
        id: "debian",
        version: "12",
        codename: "bookworm",
    },
    Release {
        id: "debian",
        version: "13",
        codename: "trixie",
    },
];

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Debian {} ({})", self.version, self.codename)
    }
}

/// The releases' profile keys, for messages: `"12", "13"`.
pub fn supported_keys() -> String {
    SUPPORTED
        .iter()
        .map(|r| format!("{:?}", r.version))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The supported release a host runs, or why it is refused.
pub fn release_of(os: &Os) -> Result<&'static Release, String> {
    SUPPORTED
        .iter()
        .find(|r| r.id == os.id && r.version == os.version_id)
        .ok_or_else(|| {
            let found = if os.pretty_name.is_empty() {
                format!("ID={:?} VERSION_ID={:?}", os.id, os.version_id)
            } else {
                format!(
                    "{} (ID={} VERSION_ID={})",
                    os.pretty_name, os.id, os.version_id
                )
            };
            let supported: Vec<String> = SUPPORTED.iter().map(|r| r.to_string()).collect();
            format!(
                "unsupported operating system {found}: rampart's profiles are written and \
                 tested for {}; nothing was applied to this host",
                supported.join(" and ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(id: &str, version: &str, pretty: &str) -> Os {
        Os {
            id: id.into(),
            version_id: version.into(),
            codename: String::new(),
            pretty_name: pretty.into(),
        }
    }

    #[test]
    fn debian_12_and_13_are_supported() {
        assert_eq!(
            release_of(&os("debian", "12", "")).map(|r| r.codename),
            Ok("bookworm")
        );
        assert_eq!(
            release_of(&os("debian", "13", "")).map(|r| r.codename),
            Ok("trixie")
        );
    }

    #[test]
    fn anything_else_is_refused_naming_what_was_found() {
        let e = release_of(&os("ubuntu", "24.04", "Ubuntu 24.04.1 LTS")).unwrap_err();
        assert!(
            e.starts_with(
                "unsupported operating system Ubuntu 24.04.1 LTS (ID=ubuntu VERSION_ID=24.04)"
            ),
            "{e}"
        );
        assert!(
            e.contains("Debian 12 (bookworm) and Debian 13 (trixie)"),
            "{e}"
        );
        assert!(release_of(&os("debian", "11", "")).is_err());
        let unknown = release_of(&os("", "", "")).unwrap_err();
        assert!(unknown.contains("ID=\"\" VERSION_ID=\"\""), "{unknown}");
    }
}
