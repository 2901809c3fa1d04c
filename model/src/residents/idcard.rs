//! Resident identity card numbers (公民身份号码, GB 11643-1999): 18 characters, a 6-digit
//! region code, the birth date `YYYYMMDD`, a 3-digit sequence whose parity is the holder's
//! sex, and an ISO 7064 MOD 11-2 check character (`0`-`9` or `X`).
//!
//! Errors name the field and the rule, never the number.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::invalid::{Check, Invalid};

/// Weights of the first 17 digits (2^(18-i) mod 11).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character by weighted sum mod 11.
const CHECK: [u8; 11] = *b"10X98765432";
/// Province-level codes (the first two digits) in use.
const PROVINCES: &[u32] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
];

/// Sex as the sequence code's parity records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub const fn code(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
}

/// What a valid number says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdCard {
    /// The number, with a lowercase `x` made uppercase.
    pub number: String,
    /// The 6-digit administrative region code where it was issued.
    pub region: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
}

/// The check character of the first 17 digits.
pub fn check_char(first17: &[u8; 17]) -> u8 {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d.wrapping_sub(b'0')) * w)
        .sum();
    CHECK[(sum % 11) as usize]
}

/// Parses and checks a number. `field` names it in the refusal. Whitespace around it is
/// dropped (a phone keyboard or a paste leaves it, an IME's full-width space included), so
/// every path stores the same 18 characters.
pub fn parse(field: &str, s: &str) -> Check<IdCard> {
    let s = s.trim();
    let bad = |reason: &str| Err(Invalid::new(field, reason));
    let b = s.as_bytes();
    if b.len() != 18 {
        return bad("must be 18 characters");
    }
    let Ok(first17) = <[u8; 17]>::try_from(&b[..17]) else {
        return bad("must be 18 characters");
    };
    if !first17.iter().all(u8::is_ascii_digit) {
        return bad("must be 17 digits followed by a digit or X");
    }
    let last = b[17].to_ascii_uppercase();
    if !(last.is_ascii_digit() || last == b'X') {
        return bad("must be 17 digits followed by a digit or X");
    }
    let digits = |r: std::ops::Range<usize>| -> u32 {
        first17[r]
            .iter()
            .fold(0, |n, d| n * 10 + u32::from(d - b'0'))
    };
    if !PROVINCES.contains(&digits(0..2)) {
        return bad("has an unknown region code");
    }
    let (y, m, d) = (digits(6..10), digits(10..12), digits(12..14));
    let Some(birth_date) = NaiveDate::from_ymd_opt(y as i32, m, d) else {
        return bad("has an impossible birth date");
    };
    if !(1800..2100).contains(&y) {
        return bad("has an impossible birth date");
    }
    if check_char(&first17) != last {
        return bad("has a wrong check digit");
    }
    let sex = if digits(16..17) % 2 == 1 {
        Sex::Male
    } else {
        Sex::Female
    };
    let mut number = s[..17].to_string();
    number.push(char::from(last));
    Ok(IdCard {
        region: s[..6].to_string(),
        number,
        birth_date,
        sex,
    })
}

/// Refuses a number whose holder is born after `today`. The model has no clock: `today` is
/// the local day where the number is recorded (the phone's, in its district's zone) or
/// stored (the server's). Only new values meet this rule; numbers already stored and an
/// edit's `previous` values do not, so a phone whose clock is behind never refuses them.
pub fn check_born_by(field: &str, card: &IdCard, today: NaiveDate) -> Check {
    if card.birth_date > today {
        return Err(Invalid::new(field, "has a birth date in the future"));
    }
    Ok(())
}

/// [`parse`], then [`check_born_by`]: the rule for a number being recorded.
pub fn parse_new(field: &str, s: &str, today: NaiveDate) -> Check<IdCard> {
    let card = parse(field, s)?;
    check_born_by(field, &card, today)?;
    Ok(card)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_examples_are_valid() {
        // GB 11643-1999's own example and the widely published 朝阳区 example.
        let a = parse("id_number", "11010519491231002X").unwrap();
        assert_eq!(a.birth_date, NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert_eq!(a.sex, Sex::Female);
        assert_eq!(a.region, "110105");
        let b = parse("id_number", "440524188001010014").unwrap();
        assert_eq!(b.birth_date, NaiveDate::from_ymd_opt(1880, 1, 1).unwrap());
        assert_eq!(b.sex, Sex::Male);
        // A lowercase x is the same number.
        assert_eq!(
            parse("f", "11010519491231002x").unwrap().number,
            "11010519491231002X"
        );
    }

    #[test]
    fn refusals_name_the_rule_not_the_number() {
        let cases = [
            ("11010519491231002", "must be 18 characters"),
            (
                "11010519491231002Y",
                "must be 17 digits followed by a digit or X",
            ),
            (
                "1101051949123100A2",
                "must be 17 digits followed by a digit or X",
            ),
            ("110105194912310021", "has a wrong check digit"),
            ("440524188001010015", "has a wrong check digit"),
            ("990105194912310020", "has an unknown region code"),
            ("230302199902300010", "has an impossible birth date"),
            ("230302199913010010", "has an impossible birth date"),
            ("230302170001010010", "has an impossible birth date"),
            ("门牌号门牌号", "must be 17 digits followed by a digit or X"),
        ];
        for (n, why) in cases {
            let e = parse("residents.id_number", n).unwrap_err();
            assert_eq!(e.reason, why, "{n}");
            assert!(!e.to_string().contains(n), "{e}");
        }
    }

    #[test]
    fn whitespace_around_a_number_is_dropped() {
        for n in [
            " 230302199901010015 ",
            "\t230302199901010015\n",
            "\u{3000}230302199901010015",
        ] {
            assert_eq!(parse("id_number", n).unwrap().number, "230302199901010015");
        }
        // Inside the number it is still a wrong character.
        assert!(parse("id_number", "230302 199901010015").is_err());
    }

    #[test]
    fn a_birth_date_after_today_is_refused_by_name_not_number() {
        let n = "230302199901010015";
        let day = NaiveDate::from_ymd_opt(1999, 1, 1).unwrap();
        assert!(parse_new("id_number", n, day).is_ok(), "born today");
        let e = parse_new("id_number", n, day.pred_opt().unwrap()).unwrap_err();
        assert_eq!(e.field, "id_number");
        assert_eq!(e.reason, "has a birth date in the future");
        assert!(!e.to_string().contains(n), "{e}");
    }

    #[test]
    fn the_check_character_covers_every_single_digit_change() {
        let good = *b"23030219850617421";
        let c = check_char(&good);
        for i in 0..17 {
            for d in b'0'..=b'9' {
                let mut n = good;
                if n[i] == d {
                    continue;
                }
                n[i] = d;
                assert_ne!(check_char(&n), c, "position {i}");
            }
        }
    }
}
