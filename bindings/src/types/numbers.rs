//! Counts, limits and sizes across the FFI.
//!
//! Kotlin and Swift count with signed `Int`/`Long` (`List.size`, `Array.count`); unsigned
//! types would force `toUInt()` conversions on every call site. So every count crosses as
//! `i32` or `i64`: an input below zero is the caller's mistake (`InvalidInput{field}`), an
//! output too large for its type saturates (no count the core keeps comes near).

use crate::error::{Result, invalid};

/// A count going out as Kotlin `Int` / Swift `Int32`.
pub(crate) fn int(n: impl TryInto<i32>) -> i32 {
    n.try_into().unwrap_or(i32::MAX)
}

/// A count or size going out as Kotlin `Long` / Swift `Int64`.
pub(crate) fn long(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// A count, limit or size coming in: zero or more, and within the core's type.
pub(crate) fn count<T: TryFrom<i64>>(field: &str, n: impl Into<i64>) -> Result<T> {
    let n = n.into();
    if n < 0 {
        return Err(invalid(field, "must not be negative"));
    }
    T::try_from(n).map_err(|_| invalid(field, "too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_saturate_and_inputs_refuse_negatives() {
        assert_eq!(int(u64::MAX), i32::MAX);
        assert_eq!(int(7usize), 7);
        assert_eq!(long(u64::MAX), i64::MAX);
        assert!(matches!(count::<usize>("limit", 0), Ok(0)));
        assert!(matches!(count::<u32>("limit", 5), Ok(5)));
        assert!(count::<usize>("limit", -1).is_err());
        assert!(count::<u8>("policy.photo_jpeg_quality", 300).is_err());
    }
}
