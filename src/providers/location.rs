//! Location codes: every provider spells its sites differently (`fsn1`,
//! `FSN1-DC14`, `gra3`, `GRA11`, `EU-WEST-PAR`). Inventory and residency
//! checks compare one normalised, lowercase site code, and keep the raw
//! value next to it for display.

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
    strip_trailing_digits(city).to_string()
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

/// ISO 3166-1 alpha-2 country of a normalised site code, for residency
/// checks. `None` for a site this table does not know yet: callers must
/// treat that as "unknown", never as compliant.
pub fn country_code(site: &str) -> Option<&'static str> {
    let country = match site {
        // Hetzner
        "fsn1" | "nbg1" => "DE",
        "hel1" => "FI",
        "ash" | "hil" => "US",
        "sin" => "SG",
        // OVHcloud
        "gra" | "sbg" | "rbx" | "par" => "FR",
        "bhs" | "tor" => "CA",
        "waw" => "PL",
        "lim" | "de1" | "fra" => "DE",
        "uk" | "eri" | "lon" => "GB",
        "mil" => "IT",
        "mad" => "ES",
        "bru" => "BE",
        "ams" => "NL",
        "vin" | "va" | "or" => "US",
        "sgp" => "SG",
        "syd" => "AU",
        "mum" => "IN",
        _ => return None,
    };
    Some(country)
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
    }
}
