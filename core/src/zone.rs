//! The district's time zone: patrol days, weeks and the check-in's local day are counted in
//! it, whatever zone the phone is set to.
//!
//! Named by its IANA id (`Asia/Shanghai`), with the fixed UTC offset of [`Config`] as the
//! fallback when no id is given. The app library carries China's zones only
//! (`.cargo/config.toml` filters the tz database at build time: 18 KB instead of 1.9 MB), so
//! another id is `InvalidInput{config.time_zone}` at open, never a silent UTC.
//!
//! [`Config`]: crate::Config

use chrono::{DateTime, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistrictZone {
    Named(Tz),
    Fixed(FixedOffset),
}

impl DistrictZone {
    /// The zone `time_zone` names, else the fixed `utc_offset_minutes` (±14 h).
    pub fn from_config(time_zone: Option<&str>, utc_offset_minutes: i32) -> Result<Self> {
        if let Some(id) = time_zone {
            return id.parse::<Tz>().map(DistrictZone::Named).map_err(|_| {
                Error::invalid(
                    "config.time_zone",
                    "is not a district time zone this build knows (China's IANA zones)",
                )
            });
        }
        if !(-14 * 60..=14 * 60).contains(&utc_offset_minutes) {
            return Err(Error::invalid(
                "config.utc_offset_minutes",
                "must be within ±14 hours",
            ));
        }
        FixedOffset::east_opt(utc_offset_minutes * 60)
            .map(DistrictZone::Fixed)
            .ok_or_else(|| Error::invalid("config.utc_offset_minutes", "is not an offset"))
    }

    /// The local calendar day at `at`.
    pub fn local_day(&self, at: DateTime<Utc>) -> NaiveDate {
        match self {
            DistrictZone::Named(tz) => at.with_timezone(tz).date_naive(),
            DistrictZone::Fixed(off) => at.with_timezone(off).date_naive(),
        }
    }

    /// The first instant of local `day`. A midnight skipped by a clock change starts the day
    /// at the instant the skip happens.
    pub fn day_start(&self, day: NaiveDate) -> DateTime<Utc> {
        let midnight = day.and_time(chrono::NaiveTime::MIN);
        let first = match self {
            DistrictZone::Named(tz) => tz
                .from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
            DistrictZone::Fixed(off) => off
                .from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
        };
        first.unwrap_or_else(|| {
            // In a gap: the offset in force just before it moves the wall clock past it.
            let before = self.offset_at(midnight.and_utc());
            (midnight - before).and_utc()
        })
    }

    /// Local time minus UTC at `at`.
    pub fn offset_at(&self, at: DateTime<Utc>) -> chrono::TimeDelta {
        let off = match self {
            DistrictZone::Named(tz) => tz.offset_from_utc_datetime(&at.naive_utc()).fix(),
            DistrictZone::Fixed(off) => *off,
        };
        chrono::TimeDelta::seconds(i64::from(off.local_minus_utc()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("a test instant")
    }

    #[test]
    fn shanghai_counts_days_from_local_midnight() {
        let z = DistrictZone::from_config(Some("Asia/Shanghai"), 0).expect("a known zone");
        assert!(matches!(z, DistrictZone::Named(_)));
        // 23:59:59 in Beijing is 15:59:59 UTC; 16:00 UTC is the next local day.
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).expect("a day");
        assert_eq!(z.local_day(at("2026-11-30T15:59:59Z")), day);
        assert_eq!(
            z.local_day(at("2026-11-30T16:00:00Z")),
            day.succ_opt().expect("a day")
        );
        assert_eq!(z.day_start(day), at("2026-11-29T16:00:00Z"));
    }

    #[test]
    fn a_named_zone_keeps_its_history_and_the_fixed_offset_does_not() {
        // China observed daylight saving time 1986-1991: 1988-07-01 began at 00:00 UTC+9.
        let day = NaiveDate::from_ymd_opt(1988, 7, 1).expect("a day");
        let named = DistrictZone::from_config(Some("Asia/Shanghai"), 0);
        let fixed = DistrictZone::from_config(None, 480);
        assert_eq!(
            named.map(|z| z.day_start(day)).ok(),
            Some(at("1988-06-30T15:00:00Z"))
        );
        assert_eq!(
            fixed.map(|z| z.day_start(day)).ok(),
            Some(at("1988-06-30T16:00:00Z"))
        );
    }

    #[test]
    fn unknown_zones_and_offsets_out_of_range_are_invalid_input() {
        for (id, off) in [
            (Some("Europe/Atlantis"), 480),
            // Real, but not in the build's filtered tz database (.cargo/config.toml).
            (Some("Europe/Berlin"), 480),
            (Some(""), 480),
            (Some("asia/shanghai "), 480),
            (None, 15 * 60),
            (None, -15 * 60),
        ] {
            let e = DistrictZone::from_config(id, off).err();
            assert!(
                matches!(e, Some(Error::InvalidInput { .. })),
                "{id:?} {off}: {e:?}"
            );
        }
        assert!(DistrictZone::from_config(Some("Asia/Urumqi"), 0).is_ok());
        assert!(DistrictZone::from_config(Some("UTC"), 0).is_ok());
    }
}
