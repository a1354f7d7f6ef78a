//! Location codes: every provider spells its sites differently (`fsn1`,
//! `FSN1-DC14`, `gra3`, `GRA11`, `EU-WEST-PAR`). Inventory and residency
//! checks compare one normalised, lowercase site code, and keep the raw
//! value next to it for display.
//! A low module: `inventory` (RES-01, `create:` locations) and the
//! provider clients both read it, neither reaches into the other for it.

use serde::Serialize;

/// Which company hosts a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Hetzner,
    Ovh,
}

/// Hetzner Cloud location names (`fsn1`, `nbg1`, `hel1`, `ash`, `hil`,
/// `sin`) are already site codes.
pub fn normalise_hcloud_location(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// Hetzner Robot's `dc` is `SITE-DCnn` (e.g. `FSN1-DC14`): the site is the
/// part before the first dash.
pub fn normalise_robot_dc(dc: &str) -> String {
    let site = dc.trim().split('-').next().unwrap_or_default();
    site.to_ascii_lowercase()
}

/// OVHcloud dedicated-server `datacenter` values are a city code with a
/// building number or suffix (`gra3`, `rbx8`, `rbx-hz`, `bhs2`): the city
/// code is the site.
pub fn normalise_ovh_datacenter(datacenter: &str) -> String {
    let lower = datacenter.trim().to_ascii_lowercase();
    let city = lower.split('-').next().unwrap_or_default();
    let site = strip_trailing_digits(city);
    // `p19` (Paris) is a building code, not a city code with a number.
    if site.len() < 2 {
        return city.to_string();
    }
    site.to_string()
}

/// OVHcloud Public Cloud regions come in two forms:
/// * compact (`GRA11`, `SBG5`, `BHS5`, `WAW1`, `UK1`, `DE1`): the letters
///   are the site, except `DE1` (Frankfurt), which keeps its number because
///   `de` alone would read as a country rather than a site;
/// * dashed (`EU-WEST-PAR`, `EU-SOUTH-MIL`, `CA-EAST-TOR`, `US-EAST-VA-1`,
///   `EU-WEST-LZ-BRU-A`): the last part that is not a continent, a
///   direction, a zone marker or an availability-zone suffix is the site.
pub fn normalise_ovh_region(region: &str) -> String {
    let upper = region.trim().to_ascii_uppercase();
    if upper.contains('-') {
        return dashed_region_site(&upper);
    }
    if upper == "DE1" {
        return "de1".to_string();
    }
    strip_trailing_digits(&upper).to_ascii_lowercase()
}

/// Words in dashed OVH region names that describe where on the globe a
/// region is rather than which site it is.
const REGION_QUALIFIERS: &[&str] = &[
    "EU",
    "US",
    "CA",
    "AP",
    "WEST",
    "EAST",
    "NORTH",
    "SOUTH",
    "CENTRAL",
    "SOUTHEAST",
    "SOUTHWEST",
    "NORTHEAST",
    "NORTHWEST",
    "LZ",
    // SecNumCloud variants of a region (`eu-west-gra-snc`): same site.
    "SNC",
];

fn dashed_region_site(upper: &str) -> String {
    let site = upper
        .split('-')
        .filter(|part| part.len() > 1)
        .filter(|part| !part.chars().all(|c| c.is_ascii_digit()))
        .rfind(|part| !REGION_QUALIFIERS.contains(part));
    match site {
        Some(site) => strip_trailing_digits(site).to_ascii_lowercase(),
        // Nothing but qualifiers: keep the whole name rather than invent one.
        None => upper.to_ascii_lowercase(),
    }
}

fn strip_trailing_digits(s: &str) -> &str {
    let stripped = s.trim_end_matches(|c: char| c.is_ascii_digit());
    // A code made only of digits is kept as it is.
    if stripped.is_empty() {
        s
    } else {
        stripped
    }
}

/// One site a provider runs servers in: its normalised code (what
/// [`ProviderServer::location`](crate::providers::ProviderServer::location) holds and
/// what inventories write), the ISO 3166-1 alpha-2 country it is in, and
/// the city, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Site {
    pub provider: ProviderKind,
    pub code: &'static str,
    pub country: &'static str,
    pub city: &'static str,
    /// A Hetzner Cloud location, where `POST /servers` can create servers.
    pub hcloud: bool,
}

const fn hetzner(
    code: &'static str,
    country: &'static str,
    city: &'static str,
    hcloud: bool,
) -> Site {
    Site {
        provider: ProviderKind::Hetzner,
        code,
        country,
        city,
        hcloud,
    }
}

const fn ovh(code: &'static str, country: &'static str, city: &'static str) -> Site {
    Site {
        provider: ProviderKind::Ovh,
        code,
        country,
        city,
        hcloud: false,
    }
}

/// Every site of every provider rampart knows, and the country it is in:
/// the one table residency checks, `inventory sync` and `provision` read.
///
/// * Hetzner: the Cloud locations (`GET /locations`: fsn1, nbg1, hel1, ash,
///   hil, sin) and the Robot data-centre parks (`FSN1-DCnn`, `NBG1-DCnn`,
///   `HEL1-DCnn`, normalised to their site).
/// * OVHcloud: dedicated-server data centres (`gra3`, `rbx-hz`, `eri1`,
///   `ynm1`, `p19`...), Public Cloud regions in both spellings (`GRA11`,
///   `DE1`, `UK1`, `US-EAST-VA-1`) and the regions of OVH's `RegionEnum`
///   (`eu-west-par`, `eu-south-mil`, `ca-east-tor`, `ap-south-mum`, the
///   Local Zones `eu-west-lz-bru`, `us-east-lz-nyc`...).
///
/// A site missing here is *unknown*, never compliant: the residency check
/// refuses it and names the value.
pub const SITES: &[Site] = &[
    // Hetzner Cloud and Robot.
    hetzner("fsn1", "DE", "Falkenstein", true),
    hetzner("nbg1", "DE", "Nuremberg", true),
    hetzner("hel1", "FI", "Helsinki", true),
    hetzner("ash", "US", "Ashburn, VA", true),
    hetzner("hil", "US", "Hillsboro, OR", true),
    hetzner("sin", "SG", "Singapore", true),
    // OVHcloud, France.
    ovh("gra", "FR", "Gravelines"),
    ovh("sbg", "FR", "Strasbourg"),
    ovh("rbx", "FR", "Roubaix"),
    ovh("par", "FR", "Paris"),
    ovh("p19", "FR", "Paris"),
    ovh("gsw", "FR", "Paris"),
    ovh("mrs", "FR", "Marseille"),
    // OVHcloud, rest of Europe.
    ovh("lim", "DE", "Limburg"),
    ovh("de1", "DE", "Frankfurt"),
    ovh("waw", "PL", "Warsaw"),
    ovh("uk", "GB", "London"),
    ovh("eri", "GB", "Erith (London)"),
    ovh("mnc", "GB", "Manchester"),
    ovh("mil", "IT", "Milan"),
    ovh("mad", "ES", "Madrid"),
    ovh("lis", "PT", "Lisbon"),
    ovh("bru", "BE", "Brussels"),
    ovh("ams", "NL", "Amsterdam"),
    ovh("lux", "LU", "Luxembourg"),
    ovh("dln", "IE", "Dublin"),
    ovh("vie", "AT", "Vienna"),
    ovh("zrh", "CH", "Zurich"),
    ovh("prg", "CZ", "Prague"),
    ovh("buh", "RO", "Bucharest"),
    ovh("sof", "BG", "Sofia"),
    ovh("cph", "DK", "Copenhagen"),
    ovh("hel", "FI", "Helsinki"),
    ovh("osl", "NO", "Oslo"),
    ovh("sto", "SE", "Stockholm"),
    // OVHcloud, Africa.
    ovh("rba", "MA", "Rabat"),
    // OVHcloud, Canada.
    ovh("bhs", "CA", "Beauharnois"),
    ovh("tor", "CA", "Toronto"),
    ovh("yyz", "CA", "Toronto"),
    // OVHcloud, United States.
    ovh("vin", "US", "Vint Hill, VA"),
    ovh("va", "US", "Vint Hill, VA"),
    ovh("hil", "US", "Hillsboro, OR"),
    ovh("or", "US", "Hillsboro, OR"),
    ovh("atl", "US", "Atlanta"),
    ovh("bos", "US", "Boston"),
    ovh("chi", "US", "Chicago"),
    ovh("dal", "US", "Dallas"),
    ovh("mia", "US", "Miami"),
    ovh("nyc", "US", "New York"),
    ovh("slc", "US", "Salt Lake City"),
    ovh("stl", "US", "St. Louis"),
    ovh("den", "US", "Denver"),
    ovh("lax", "US", "Los Angeles"),
    ovh("pao", "US", "Palo Alto"),
    ovh("phx", "US", "Phoenix"),
    ovh("sea", "US", "Seattle"),
    // OVHcloud, Asia-Pacific.
    ovh("sgp", "SG", "Singapore"),
    ovh("syd", "AU", "Sydney"),
    ovh("mum", "IN", "Mumbai"),
    ovh("ynm", "IN", "Mumbai"),
];

/// ISO 3166-1 alpha-2 country of a normalised site code, for residency
/// checks. `None` for a site this table does not know: callers must treat
/// that as "unknown", never as compliant.
pub fn country_code(site: &str) -> Option<&'static str> {
    SITES.iter().find(|s| s.code == site).map(|s| s.country)
}

/// The site a location value names at `provider`, accepting every spelling
/// the provider uses: the normalised code (`fsn1`, `gra`), a Hetzner
/// datacenter (`FSN1-DC14`, `fsn1-dc14`), an OVH datacenter (`gra3`,
/// `rbx-hz`) or Public Cloud region (`GRA11`, `EU-WEST-PAR`,
/// `eu-west-gra-snc`). `None` when the value names no known site.
pub fn resolve_site(provider: ProviderKind, raw: &str) -> Option<&'static Site> {
    let lower = raw.trim().to_ascii_lowercase();
    if lower.is_empty() {
        return None;
    }
    let candidates = match provider {
        ProviderKind::Hetzner => vec![lower, normalise_robot_dc(raw)],
        ProviderKind::Ovh => vec![
            lower,
            normalise_ovh_region(raw),
            normalise_ovh_datacenter(raw),
        ],
    };
    candidates.iter().find_map(|code| {
        SITES
            .iter()
            .find(|s| s.provider == provider && s.code == code)
    })
}

/// A Hetzner Cloud location, where servers can be created.
pub fn hcloud_site(raw: &str) -> Option<&'static Site> {
    resolve_site(ProviderKind::Hetzner, raw).filter(|s| s.hcloud)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcloud_locations_are_lowercased() {
        for (raw, want) in [
            ("fsn1", "fsn1"),
            ("NBG1", "nbg1"),
            ("ash", "ash"),
            ("hil", "hil"),
        ] {
            assert_eq!(normalise_hcloud_location(raw), want);
        }
    }

    #[test]
    fn robot_dc_keeps_the_site() {
        for (raw, want) in [
            ("FSN1-DC14", "fsn1"),
            ("NBG1-DC3", "nbg1"),
            ("HEL1-DC2", "hel1"),
            ("fsn1", "fsn1"),
        ] {
            assert_eq!(normalise_robot_dc(raw), want, "{raw}");
        }
    }

    #[test]
    fn ovh_datacenter_drops_the_building() {
        for (raw, want) in [
            ("gra3", "gra"),
            ("sbg1", "sbg"),
            ("rbx8", "rbx"),
            ("rbx-hz", "rbx"),
            ("bhs2", "bhs"),
            ("waw1", "waw"),
            ("lim3", "lim"),
            ("eri1", "eri"),
            ("p19", "p19"),
            ("ynm1", "ynm"),
        ] {
            assert_eq!(normalise_ovh_datacenter(raw), want, "{raw}");
        }
    }

    #[test]
    fn ovh_regions_map_to_sites() {
        for (raw, want) in [
            ("GRA11", "gra"),
            ("GRA7", "gra"),
            ("SBG5", "sbg"),
            ("DE1", "de1"),
            ("UK1", "uk"),
            ("WAW1", "waw"),
            ("BHS5", "bhs"),
            ("LIM1", "lim"),
            ("SGP1", "sgp"),
            ("EU-WEST-PAR", "par"),
            ("EU-SOUTH-MIL", "mil"),
            ("CA-EAST-TOR", "tor"),
            ("US-EAST-VA-1", "va"),
            ("EU-WEST-LZ-BRU-A", "bru"),
            ("eu-west-gra-snc", "gra"),
            ("eu-central-lz-prg", "prg"),
        ] {
            assert_eq!(normalise_ovh_region(raw), want, "{raw}");
        }
    }

    #[test]
    fn countries_of_known_sites() {
        assert_eq!(country_code("fsn1"), Some("DE"));
        assert_eq!(country_code("hel1"), Some("FI"));
        assert_eq!(country_code("gra"), Some("FR"));
        assert_eq!(country_code("uk"), Some("GB"));
        assert_eq!(country_code("bhs"), Some("CA"));
        assert_eq!(country_code("atlantis"), None);
        assert_eq!(country_code("mil"), Some("IT"));
        assert_eq!(country_code("sin"), Some("SG"));
        assert_eq!(country_code("de1"), Some("DE"));
    }

    #[test]
    fn every_spelling_resolves_to_its_site() {
        let h = ProviderKind::Hetzner;
        let o = ProviderKind::Ovh;
        for (provider, raw, code, country) in [
            (h, "fsn1", "fsn1", "DE"),
            (h, "FSN1-DC14", "fsn1", "DE"),
            (h, "nbg1-dc3", "nbg1", "DE"),
            (h, "hel1", "hel1", "FI"),
            (h, "ash", "ash", "US"),
            (h, "hil", "hil", "US"),
            (h, "sin", "sin", "SG"),
            (o, "gra", "gra", "FR"),
            (o, "gra3", "gra", "FR"),
            (o, "GRA11", "gra", "FR"),
            (o, "rbx-hz", "rbx", "FR"),
            (o, "p19", "p19", "FR"),
            (o, "eu-west-par", "par", "FR"),
            (o, "eu-west-gra-snc", "gra", "FR"),
            (o, "bhs", "bhs", "CA"),
            (o, "BHS5", "bhs", "CA"),
            (o, "waw1", "waw", "PL"),
            (o, "lim", "lim", "DE"),
            (o, "DE1", "de1", "DE"),
            (o, "UK1", "uk", "GB"),
            (o, "eri1", "eri", "GB"),
            (o, "EU-SOUTH-MIL", "mil", "IT"),
            (o, "US-EAST-VA-1", "va", "US"),
            (o, "us-west-hil", "hil", "US"),
            (o, "CA-EAST-TOR", "tor", "CA"),
            (o, "AP-SOUTH-MUM-1", "mum", "IN"),
            (o, "SGP1", "sgp", "SG"),
            (o, "EU-WEST-LZ-BRU-A", "bru", "BE"),
        ] {
            let site = resolve_site(provider, raw);
            assert_eq!(
                site.map(|s| (s.code, s.country)),
                Some((code, country)),
                "{raw}"
            );
        }
    }

    #[test]
    fn unknown_or_foreign_codes_do_not_resolve() {
        assert_eq!(resolve_site(ProviderKind::Hetzner, "atlantis"), None);
        assert_eq!(resolve_site(ProviderKind::Hetzner, ""), None);
        // An OVH site is not a Hetzner one, and the other way round.
        assert_eq!(resolve_site(ProviderKind::Hetzner, "gra"), None);
        assert_eq!(resolve_site(ProviderKind::Ovh, "fsn1"), None);
    }

    #[test]
    fn only_hetzner_cloud_locations_can_create_servers() {
        assert_eq!(hcloud_site("nbg1").map(|s| s.code), Some("nbg1"));
        assert_eq!(hcloud_site("gra"), None);
        assert_eq!(hcloud_site("mars1"), None);
    }

    #[test]
    fn the_table_has_each_site_once_per_provider_and_valid_countries() {
        let mut seen = std::collections::BTreeSet::new();
        for s in SITES {
            assert!(seen.insert((s.provider, s.code)), "{} twice", s.code);
            assert!(
                s.country.len() == 2 && s.country.chars().all(|c| c.is_ascii_uppercase()),
                "{}",
                s.country
            );
            assert_eq!(s.code, s.code.to_ascii_lowercase());
        }
    }
}
