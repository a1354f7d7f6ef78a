//! `--since DURATION|DATE`: how far back `access` reads.

/// The start of the window, in seconds since the epoch: `30d`, `12h`,
/// `90m`, `2w` back from `now`, or a `YYYY-MM-DD` date (00:00 UTC).
pub fn parse(text: &str, now: u64) -> Result<u64, String> {
    let t = text.trim();
    if let Some(days) = crate::calendar::days_from_date(t) {
        return u64::try_from(days)
            .ok()
            .and_then(|d| d.checked_mul(86_400))
            .ok_or_else(|| format!("--since {t}: the date is before 1970"));
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| expected(t))?;
    let factor = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(expected(t)),
    };
    let back = n.checked_mul(factor).ok_or_else(|| expected(t))?;
    Ok(now.saturating_sub(back))
}

fn expected(t: &str) -> String {
    format!("--since {t:?}: expected a duration (30d, 12h, 90m, 2w, 45s) or a date YYYY-MM-DD")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_count_back_from_now() {
        let now = 10_000_000;
        assert_eq!(parse("30d", now), Ok(now - 30 * 86_400));
        assert_eq!(parse("12h", now), Ok(now - 12 * 3_600));
        assert_eq!(parse("90m", now), Ok(now - 90 * 60));
        assert_eq!(parse("2w", now), Ok(now - 14 * 86_400));
        assert_eq!(parse("45s", now), Ok(now - 45));
    }

    #[test]
    fn dates_start_at_midnight_utc() {
        assert_eq!(parse("2026-12-01", 0), Ok(1_796_083_200));
        assert_eq!(parse("1970-01-02", 0), Ok(86_400));
    }

    #[test]
    fn anything_else_is_refused_with_the_expected_forms() {
        for bad in ["", "30", "30x", "d", "2026-02-30", "-3d", "yesterday"] {
            let e = parse(bad, 1_000).expect_err(bad);
            assert!(e.contains("expected a duration"), "{bad}: {e}");
        }
    }
}
