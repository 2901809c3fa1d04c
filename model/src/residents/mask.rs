//! How ID numbers and phones appear in lists: enough to tell residents apart and to match
//! what the resident says, not enough to copy. Unmasked values go out only through an
//! explicit call for one resident.

/// `230102********1234`: region kept, birth date and sequence hidden.
pub fn id_number(n: &str) -> String {
    let chars: Vec<char> = n.chars().collect();
    if chars.len() < 10 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 10))
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
}
