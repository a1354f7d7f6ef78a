//! The one calendar: UTC timestamps for runs and reports, `YYYY-MM-DD`
//! dates for waiver expiry, and today as a day number. Built on the `time`
//! crate so no module carries its own date arithmetic; a low module that
//! `inventory`, `report`, `ops` and `cli` all read.
//!
//! Day numbers count days since 1970-01-01 (UTC), the unit waivers compare.

use std::time::{SystemTime, UNIX_EPOCH};

use time::{Date, Month, OffsetDateTime};

/// The Julian day number of 1970-01-01, to turn `time`'s Julian days into
/// days since the epoch.
const EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// Seconds since the epoch now; 0 if the clock is before 1970.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Today as days since the epoch (UTC), for waiver expiry.
pub fn today() -> i64 {
    i64::try_from(now_secs() / 86_400).unwrap_or(0)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian);
/// `None` for anything else, including days a month does not have.
///
/// The three fields are read as integers, as they always were (so `2026-1-5`
/// is 5 January); the calendar judges them. Years beyond `time`'s range
/// (±9999) are not dates.
pub fn days_from_date(date: &str) -> Option<i64> {
    let mut parts = date.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    let month = Month::try_from(u8::try_from(m).ok()?).ok()?;
    let day =
        Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?).ok()?;
    Some(i64::from(day.to_julian_day()) - EPOCH_JULIAN_DAY)
}

/// RFC 3339, e.g. 2026-11-23T18:04:05Z.
pub fn rfc3339(secs: u64) -> String {
    let t = utc(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Compact form for file names, e.g. 20261123T180405Z.
pub fn compact(secs: u64) -> String {
    rfc3339(secs).replace(['-', ':'], "")
}

/// The UTC time of a timestamp. Seconds past year 9999 (beyond `time`'s
/// range, and no clock's reading) show as the epoch rather than panic.
fn utc(secs: u64) -> OffsetDateTime {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written arithmetic this module replaced (Howard Hinnant's
    /// civil_from_days), kept as the oracle that outputs did not change.
    fn old_civil_from_days(z: i64) -> (i64, u32, u32) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        (if m <= 2 { y + 1 } else { y }, m, d)
    }

    #[test]
    fn formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_457_045), "2026-11-23T18:04:05Z");
        assert_eq!(compact(1_795_457_045), "20261123T180405Z");
    }

    #[test]
    fn year_ends_and_leap_days_format_as_before() {
        let day = |date: &str| days_from_date(date).expect("a date") as u64 * 86_400;
        assert_eq!(rfc3339(day("2026-12-31") + 86_399), "2026-12-31T23:59:59Z");
        assert_eq!(rfc3339(day("2026-12-31") + 86_400), "2027-01-01T00:00:00Z");
        assert_eq!(rfc3339(day("2024-02-29")), "2024-02-29T00:00:00Z");
        assert_eq!(rfc3339(day("2024-02-29") + 86_400), "2024-03-01T00:00:00Z");
        assert_eq!(rfc3339(day("2100-02-28") + 86_400), "2100-03-01T00:00:00Z");
        assert_eq!(rfc3339(day("1999-12-31") + 86_400), "2000-01-01T00:00:00Z");
        assert_eq!(rfc3339(u64::MAX), "1970-01-01T00:00:00Z", "out of range");
    }

    #[test]
    fn every_day_from_1970_to_2200_matches_the_old_arithmetic() {
        let last = days_from_date("2200-12-31").expect("a date");
        for z in 0..=last {
            let (y, m, d) = old_civil_from_days(z);
            let date = format!("{y:04}-{m:02}-{d:02}");
            assert_eq!(rfc3339(z as u64 * 86_400), format!("{date}T00:00:00Z"));
            assert_eq!(days_from_date(&date), Some(z), "{date}");
        }
    }

    #[test]
    fn dates_count_days_since_the_epoch() {
        assert_eq!(days_from_date("1970-01-01"), Some(0));
        assert_eq!(days_from_date("1969-12-31"), Some(-1));
        assert_eq!(days_from_date("2000-03-01"), Some(11017));
        assert_eq!(days_from_date("2026-11-23"), Some(20780));
        assert_eq!(
            days_from_date(" 2026-1-5 "),
            Some(20458),
            "fields are integers"
        );
        assert_eq!(days_from_date("tomorrow"), None);
    }

    #[test]
    fn leap_years_and_month_lengths_are_the_calendar_s() {
        assert!(days_from_date("2024-02-29").is_some(), "divisible by 4");
        assert!(days_from_date("2000-02-29").is_some(), "divisible by 400");
        assert_eq!(days_from_date("2100-02-29"), None, "divisible by 100");
        assert_eq!(days_from_date("2026-02-29"), None);
        assert_eq!(days_from_date("2026-04-31"), None);
        assert_eq!(days_from_date("2026-13-01"), None);
        assert_eq!(days_from_date("2026-00-10"), None);
        assert_eq!(days_from_date("2026-12-00"), None);
        assert_eq!(
            days_from_date("2026-12-31").map(|d| d + 1),
            days_from_date("2027-01-01"),
            "a year end is one day"
        );
    }
}
