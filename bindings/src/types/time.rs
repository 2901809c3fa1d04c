//! Mirrored types: time.

use super::*;

/// Kotlin `Instant` / Swift `Date` → UTC; out-of-range values are invalid input, not a panic.
pub(crate) fn to_utc(field: &str, t: SystemTime) -> Result<DateTime<Utc>> {
    let out_of_range = || invalid(field, "time out of range");
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => DateTime::UNIX_EPOCH
            .checked_add_signed(TimeDelta::from_std(d).map_err(|_| out_of_range())?),
        Err(e) => DateTime::UNIX_EPOCH
            .checked_sub_signed(TimeDelta::from_std(e.duration()).map_err(|_| out_of_range())?),
    }
    .ok_or_else(out_of_range)
}

pub(crate) fn from_utc(t: DateTime<Utc>) -> SystemTime {
    let secs = t.timestamp();
    let nanos = t.timestamp_subsec_nanos();
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            + Duration::from_nanos(u64::from(nanos))
    }
}

pub(crate) fn opt_to_utc(field: &str, t: Option<SystemTime>) -> Result<Option<DateTime<Utc>>> {
    t.map(|t| to_utc(field, t)).transpose()
}

pub(crate) fn map<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(B::from).collect()
}
