//! `backup.schedule`: `hourly`, `daily`, or a systemd OnCalendar
//! expression restricted to `[*-*-*] HH:MM[:SS]`, parsed into a canonical
//! form (the only text that reaches the timer unit) and the longest gap
//! between two runs (what "younger than 1.5 × the schedule" is judged on).

/// A validated schedule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Schedule {
    /// What `OnCalendar=` gets: `hourly`, `daily` or `*-*-* HH:MM:SS`.
    pub canonical: String,
    /// The longest interval between two consecutive runs, in seconds.
    pub period_secs: u64,
}

/// One comma-separated item of a time field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    /// `*` or `*/STEP`.
    All(Option<u32>),
    /// `A` or `A/STEP`.
    From(u32, Option<u32>),
    /// `A..B`.
    Range(u32, u32),
}

fn number(s: &str, max: u32) -> Option<u32> {
    if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| *n <= max)
}

fn step(s: &str, max: u32) -> Option<u32> {
    number(s, max).filter(|n| *n >= 1)
}

fn item(s: &str, max: u32) -> Option<Item> {
    if let Some((a, b)) = s.split_once("..") {
        let (a, b) = (number(a, max)?, number(b, max)?);
        return (a <= b).then_some(Item::Range(a, b));
    }
    let (base, st) = match s.split_once('/') {
        Some((b, st)) => (b, Some(step(st, max)?)),
        None => (s, None),
    };
    if base == "*" {
        Some(Item::All(st))
    } else {
        Some(Item::From(number(base, max)?, st))
    }
}

fn field(s: &str, max: u32) -> Option<Vec<Item>> {
    let items: Option<Vec<Item>> = s.split(',').map(|i| item(i, max)).collect();
    items.filter(|v| !v.is_empty() && v.len() <= 24)
}

fn values(items: &[Item], max: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for it in items {
        match *it {
            Item::All(st) => out.extend((0..=max).step_by(st.unwrap_or(1) as usize)),
            Item::From(a, None) => out.push(a),
            Item::From(a, Some(st)) => out.extend((a..=max).step_by(st as usize)),
            Item::Range(a, b) => out.extend(a..=b),
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn render(items: &[Item]) -> String {
    let one = |it: &Item| match *it {
        Item::All(None) => "*".to_string(),
        Item::All(Some(s)) => format!("*/{s}"),
        Item::From(a, None) => format!("{a:02}"),
        Item::From(a, Some(s)) => format!("{a:02}/{s}"),
        Item::Range(a, b) => format!("{a:02}..{b:02}"),
    };
    items.iter().map(one).collect::<Vec<_>>().join(",")
}

const EXPECTED: &str = "expected `hourly`, `daily` or an OnCalendar expression such as `*-*-* 02:30` or `*-*-* *:00/15` (fields: `*`, numbers, lists `a,b`, ranges `a..b`, steps `a/n`)";

/// Parses a schedule; the error says what was expected.
pub fn parse(text: &str) -> Result<Schedule, String> {
    let t = text.trim();
    match t {
        "hourly" => {
            return Ok(Schedule {
                canonical: "hourly".into(),
                period_secs: 3600,
            })
        }
        "daily" => {
            return Ok(Schedule {
                canonical: "daily".into(),
                period_secs: 86_400,
            })
        }
        _ => {}
    }
    let bad = || format!("invalid schedule {text:?}; {EXPECTED}");
    let tokens: Vec<&str> = t.split_whitespace().collect();
    let time = match tokens.as_slice() {
        [time] => *time,
        ["*-*-*", time] => *time,
        _ => return Err(bad()),
    };
    let parts: Vec<&str> = time.split(':').collect();
    let (h, m, s) = match parts.as_slice() {
        [h, m] => (*h, *m, "00"),
        [h, m, s] => (*h, *m, *s),
        _ => return Err(bad()),
    };
    let hours = field(h, 23).ok_or_else(bad)?;
    let minutes = field(m, 59).ok_or_else(bad)?;
    let second = number(s, 59).ok_or_else(bad)?;
    let mut fires: Vec<u32> = Vec::new();
    for hv in values(&hours, 23) {
        for mv in values(&minutes, 59) {
            fires.push(hv * 60 + mv);
        }
    }
    if fires.is_empty() {
        return Err(bad());
    }
    // The longest gap between consecutive runs, across midnight too.
    let mut gap = fires[0] + 24 * 60 - fires[fires.len() - 1];
    for w in fires.windows(2) {
        gap = gap.max(w[1] - w[0]);
    }
    Ok(Schedule {
        canonical: format!("*-*-* {}:{}:{second:02}", render(&hours), render(&minutes)),
        period_secs: u64::from(gap) * 60,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_expressions_get_a_canonical_form_and_a_period() {
        assert_eq!(parse("hourly").expect("ok").period_secs, 3600);
        assert_eq!(parse(" daily ").expect("ok").canonical, "daily");
        let s = parse("*-*-* 2:30").expect("ok");
        assert_eq!(s.canonical, "*-*-* 02:30:00");
        assert_eq!(s.period_secs, 86_400);
        let s = parse("*:0/15").expect("ok");
        assert_eq!(s.canonical, "*-*-* *:00/15:00");
        assert_eq!(s.period_secs, 15 * 60);
        let s = parse("*-*-* 01,13:00:30").expect("ok");
        assert_eq!(s.canonical, "*-*-* 01,13:00:30");
        assert_eq!(s.period_secs, 12 * 3600);
        let s = parse("*-*-* 08..20:00").expect("ok");
        assert_eq!(s.period_secs, 12 * 3600, "20:00 → 08:00 next day");
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "weekly",
            "*-*-* 25:00",
            "*-*-* 02:60",
            "Mon *-*-* 02:00",
            "2026-01-01 02:00",
            "*-*-* 02:00; rm -rf /",
            "*-*-* $(id):00",
            "*-*-* 02:00:00:00",
            "*-*-* */0:00",
            "*-*-* 5..3:00",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
