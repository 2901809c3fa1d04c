//! How ID numbers and phones appear in lists: enough to tell residents apart and to match
//! what the resident says, not enough to copy. Unmasked values go out only through an
//! explicit call for one resident.

/// `230102********1234`: region kept, birth date and sequence hidden. Only an 18-character
/// number has that shape; anything else (an old 15-digit number, a damaged value) shows its
/// last 2 characters at most, so the mask never gives away a birth date or the whole value.
pub fn id_number(n: &str) -> String {
    let chars: Vec<char> = n.chars().collect();
    let (head, tail) = match chars.len() {
        18 => (6, 4),
        len if len >= 8 => (0, 2),
        _ => (0, 0),
    };
    let first: String = chars[..head].iter().collect();
    let last: String = chars[chars.len() - tail..].iter().collect();
    format!("{first}{}{last}", "*".repeat(chars.len() - head - tail))
}

/// `139****5678` for a mobile, `0467-***5678` for a landline.
pub fn phone(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    if let Some(dash) = p.find('-') {
        let (area, rest) = p.split_at(dash);
        let rest: Vec<char> = rest[1..].chars().collect();
        if rest.len() > 4 {
            let tail: String = rest[rest.len() - 4..].iter().collect();
            return format!("{area}-{}{tail}", "*".repeat(rest.len() - 4));
        }
        return format!("{area}-{}", "*".repeat(rest.len()));
    }
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_have_the_documented_shape() {
        assert_eq!(super::id_number("230102199001011234"), "230102********1234");
        assert_eq!(super::phone("13956785678"), "139****5678");
        assert_eq!(super::phone("0467-2345678"), "0467-***5678");
        assert_eq!(super::phone("short"), "*****");
    }

    /// Anything but an 18-character number keeps at most its last 2 characters: 6 + 4 of a
    /// 10-character value was all of it, of a 15-digit old number a digit of the birth date.
    #[test]
    fn an_id_number_of_another_length_never_shows_more_than_its_last_two() {
        assert_eq!(super::id_number("2301021234"), "********34");
        assert_eq!(super::id_number("230102900101123"), "*************23");
        assert_eq!(super::id_number("1234567"), "*******");
        assert_eq!(super::id_number(""), "");
        assert_eq!(super::id_number("身份证号码有误的值"), "*******的值");
    }
}
