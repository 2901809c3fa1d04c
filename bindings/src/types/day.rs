//! Mirrored types: calendar days.

use chrono::NaiveDate;

use super::*;

/// A calendar day in the district's time zone (a patrol day, a birth date). Kotlin sees
/// `java.time.LocalDate`, Swift `DateComponents` (year, month, day; see
/// `ios/Sources/GridWorkerCore/LocalDay.swift`): the conversion is in `bindings/uniffi.toml`,
/// and `YYYY-MM-DD` is only the form the day takes between the generated code and the core.
/// A day the core cannot take (Swift components without a year, a year past 9999) is
/// `InvalidInput{field: DAY}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalDay(pub NaiveDate);

uniffi::custom_type!(LocalDay, String, {
    lower: |d| d.0.format("%Y-%m-%d").to_string(),
    try_lift: |s| Ok(LocalDay::parse("day", &s)?),
});

impl LocalDay {
    /// Years 1 to 9999: the range both platforms print as `YYYY-MM-DD`.
    pub(crate) fn parse(field: &str, s: &str) -> Result<LocalDay> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .filter(|d| (1..=9999).contains(&chrono::Datelike::year(d)))
            .map(LocalDay)
            .ok_or_else(|| invalid(field, "must be a calendar day of the years 1 to 9999"))
    }
}

impl From<NaiveDate> for LocalDay {
    fn from(d: NaiveDate) -> Self {
        LocalDay(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_the_platforms_print_parse_and_the_rest_is_invalid_input() {
        let d = LocalDay::parse("day", "2026-11-30").expect("a day");
        assert_eq!(d.0, NaiveDate::from_ymd_opt(2026, 11, 30).expect("a day"));
        // Kotlin LocalDate.MAX / MIN / year 10000, Swift components without a day, nonsense.
        for bad in [
            "+999999999-12-31",
            "-999999999-01-01",
            "+10000-01-01",
            "0000-01-01",
            "0000-00-00",
            "2026-02-30",
            "2026-11-30T00:00",
            "",
        ] {
            assert!(LocalDay::parse("day", bad).is_err(), "{bad}");
        }
    }
}
