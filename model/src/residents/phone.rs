//! Mainland China phone numbers: mobile (`1[3-9]` and 9 more digits) and landline (area code
//! `0` + 2 or 3 digits, then a 7- or 8-digit subscriber number). Written forms with spaces,
//! dashes or a `+86` / `0086` prefix (a landline's area code then with or without its 0) are
//! accepted and stored normalised: mobiles as 11 digits, landlines as `AREA-NUMBER`.

use crate::invalid::{Check, Invalid};

/// Checks a number and returns its normalised form.
pub fn normalise(field: &str, s: &str) -> Check<String> {
    let bad = || {
        Err(Invalid::new(
            field,
            "is not a mainland mobile or landline number",
        ))
    };
    if s.len() > 32 {
        return bad();
    }
    let compact: String = s.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let international = compact
        .strip_prefix("+86")
        .or_else(|| compact.strip_prefix("0086"));
    let national = international.unwrap_or(&compact);
    if !national.bytes().all(|b| b.is_ascii_digit()) {
        return bad();
    }
    let b = national.as_bytes();
    if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) {
        return Ok(national.to_string());
    }
    // Dialled from abroad a landline drops its leading 0 (+86 10 8765 4321 is 010-87654321);
    // some keep it.
    let national = match international {
        Some(n) if !n.starts_with('0') => format!("0{n}"),
        _ => national.to_string(),
    };
    let b = national.as_bytes();
    if b.first() == Some(&b'0') {
        // 010 and 02X are the only 3-digit area codes (Beijing and the big cities); no
        // other code starts with 01, and none with 00 (the prefix of calls abroad).
        let area = match (b.get(1), b.get(2)) {
            (Some(b'2'), _) | (Some(b'1'), Some(b'0')) => 3,
            (Some(b'1' | b'0'), _) => return bad(),
            _ => 4,
        };
        let rest = &national[area.min(national.len())..];
        let ok_rest = (7..=8).contains(&rest.len()) && !rest.starts_with(['0', '1']);
        if b.len() > area && ok_rest {
            return Ok(format!("{}-{rest}", &national[..area]));
        }
    }
    bad()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_normalise() {
        for (input, out) in [
            ("13912345678", "13912345678"),
            ("139 1234 5678", "13912345678"),
            ("+86 139-1234-5678", "13912345678"),
            ("008619912345678", "19912345678"),
            ("0467-2345678", "0467-2345678"),
            ("046723456789", "0467-23456789"),
            ("010 87654321", "010-87654321"),
            ("021-62345678", "021-62345678"),
            ("0107-2345678", "010-72345678"),
            ("+86 10 8765 4321", "010-87654321"),
            ("+86-21-62345678", "021-62345678"),
            ("0086 467 2345678", "0467-2345678"),
            ("+86 0467 2345678", "0467-2345678"),
        ] {
            assert_eq!(normalise("phone", input).unwrap(), out, "{input}");
        }
    }

    #[test]
    fn non_numbers_are_refused_without_echoing_them() {
        for bad in [
            "",
            "1391234567",
            "12912345678",
            "139123456789",
            "0467-0234567",
            "0467-234567",
            "call me",
            "1391234567８",
            "110",
            "0467-23456789012",
            // 010 and 02X are the only 3-digit area codes: 011-019 are not codes.
            "011-2345678",
            "0192345678",
            "0112-2345678",
            // 00 is the prefix of calls abroad, no area code.
            "0065 6123 4567",
            // The international form's dropped 0 only after +86 / 0086.
            "1087654321",
        ] {
            let e = normalise("phone", bad).unwrap_err();
            assert_eq!(e.field, "phone");
            assert!(bad.is_empty() || !e.to_string().contains(bad), "{e}");
        }
    }
}
