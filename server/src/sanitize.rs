//! The one place decoding errors become messages. serde's own messages quote the offending
//! value (`invalid type: string "李四 …", expected f64`), and payloads carry residents'
//! names, ID numbers and addresses: a message built here names the field, what was wrong and
//! what the schema expects, never a value from the input.

use serde::de::DeserializeOwned;
use serde_json::error::Category;

/// A decoding failure described without input values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Not JSON at all (syntax, truncation) rather than JSON of the wrong shape.
    pub syntax: bool,
    pub message: String,
}

/// Decodes `text` as `T`, refusing unknown fields anywhere (the server must never drop a
/// value silently, even where the domain structs tolerate extras).
pub fn decode_strict<T: DeserializeOwned>(text: &[u8]) -> Result<T, DecodeError> {
    // Tracking the path of every value costs about as much as the decoding itself, and only
    // a failure needs it: a payload that decodes goes without, one that fails is decoded
    // again with it for the message.
    let mut unknown: Option<String> = None;
    let mut de = serde_json::Deserializer::from_slice(text);
    let fast = {
        let mut note = |path: serde_ignored::Path<'_>| {
            if unknown.is_none() {
                unknown = Some(parent_of_ignored(&path));
            }
        };
        T::deserialize(serde_ignored::Deserializer::new(&mut de, &mut note))
    };
    match (fast, de.end(), unknown) {
        (Ok(typed), Ok(()), None) => Ok(typed),
        (Ok(_), Ok(()), Some(parent)) => Err(DecodeError {
            syntax: false,
            message: format!("unknown field {parent}"),
        }),
        _ => decode_strict_traced(text),
    }
}

/// [`decode_strict`] tracking the path, which its messages name.
fn decode_strict_traced<T: DeserializeOwned>(text: &[u8]) -> Result<T, DecodeError> {
    let mut unknown: Option<String> = None;
    let mut de = serde_json::Deserializer::from_slice(text);
    let typed: T = {
        let mut note = |path: serde_ignored::Path<'_>| {
            if unknown.is_none() {
                unknown = Some(parent_of_ignored(&path));
            }
        };
        let ignoring = serde_ignored::Deserializer::new(&mut de, &mut note);
        serde_path_to_error::deserialize(ignoring)
            .map_err(|e| describe(&render_path(e.path()), e.inner()))?
    };
    de.end().map_err(|e| describe("", &e))?;
    match unknown {
        Some(parent) => Err(DecodeError {
            syntax: false,
            message: format!("unknown field {parent}"),
        }),
        None => Ok(typed),
    }
}

/// Decodes `text` as `T` with `T`'s own rules (e.g. `deny_unknown_fields`).
pub fn decode<T: DeserializeOwned>(text: &[u8]) -> Result<T, DecodeError> {
    // As in decode_strict: the path is tracked only to describe a failure.
    serde_json::from_slice(text).or_else(|_| decode_traced(text))
}

/// [`decode`] tracking the path, which its messages name.
fn decode_traced<T: DeserializeOwned>(text: &[u8]) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let typed: T = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| describe(&render_path(e.path()), e.inner()))?;
    de.end().map_err(|e| describe("", &e))?;
    Ok(typed)
}

/// Names the object that held an ignored key, not the key: keys are input too.
fn parent_of_ignored(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    let parent = match path {
        P::Map { parent, .. } | P::Some { parent } | P::NewtypeStruct { parent } => *parent,
        P::Seq { parent, .. } | P::NewtypeVariant { parent } => *parent,
        P::Root => return "at the top level".into(),
    };
    match render_ignored(parent) {
        p if p.is_empty() => "at the top level".into(),
        p => format!("in `{p}`"),
    }
}

fn render_ignored(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", render_ignored(parent)),
        P::Map { parent, key } => {
            let p = render_ignored(parent);
            let k = if is_identifier(key) {
                key.as_str()
            } else {
                "?"
            };
            if p.is_empty() {
                k.to_string()
            } else {
                format!("{p}.{k}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            render_ignored(parent)
        }
    }
}

/// Field names come from the schema; anything else in a path position is shown as `?`.
fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_lowercase() || c == b'_')
        && s.len() <= 64
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

fn render_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(if is_identifier(key) { key } else { "?" });
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    out
}

/// What serde says the schema wanted: the text after its last `, expected `, which serde
/// writes after the quoted value, so a value containing the phrase cannot end up there.
fn expected_part(msg: &str) -> Option<&str> {
    msg.rfind(", expected ")
        .map(|i| &msg[i + ", expected ".len()..])
        .filter(|e| !e.is_empty() && !e.contains('"'))
}

/// A message for `e` at `path` (as [`render_path`] gives it) that quotes nothing from the
/// input.
fn describe(path: &str, e: &serde_json::Error) -> DecodeError {
    let syntax = matches!(
        e.classify(),
        Category::Syntax | Category::Eof | Category::Io
    );
    let at = format!("(line {}, column {})", e.line(), e.column());
    if syntax {
        let what = if e.classify() == Category::Eof {
            "the JSON ends early"
        } else {
            "not valid JSON"
        };
        return DecodeError {
            syntax,
            message: format!("{what} {at}"),
        };
    }
    // serde_json's text is "<serde message> at line L column C"; only its fixed parts are kept.
    let full = e.to_string();
    let msg = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m);
    let field = match path {
        p if p.is_empty() || p == "?" => "the body".to_string(),
        p => format!("field `{p}`"),
    };
    let with_expected = |what: &str| match expected_part(msg) {
        Some(exp) => format!("{field} {what}, expected {exp}"),
        None => format!("{field} {what}"),
    };
    let message = if msg.starts_with("invalid type") {
        with_expected("has the wrong type")
    } else if msg.starts_with("invalid value") {
        with_expected("has an invalid value")
    } else if msg.starts_with("unknown variant") {
        with_expected("is not one of the allowed values")
    } else if msg.starts_with("invalid length") {
        with_expected("has the wrong number of elements")
    } else if msg.starts_with("unknown field") {
        format!("unknown field in {field}")
    } else if let Some(rest) = msg
        .strip_prefix("missing field `")
        .or_else(|| msg.strip_prefix("duplicate field `"))
    {
        let name = rest.split('`').next().unwrap_or("");
        let name = if is_identifier(name) { name } else { "?" };
        let what = if msg.starts_with("missing") {
            "missing"
        } else {
            "duplicate"
        };
        if field == "the body" {
            format!("{what} field `{name}`")
        } else {
            format!("{what} field `{name}` in {field}")
        }
    } else {
        // A message from a type's own parser (dates, enums): its wording is not ours to
        // vouch for.
        format!("{field} has an invalid value")
    };
    DecodeError {
        syntax,
        message: format!("{message} {at}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        lat: f64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        fix: Inner,
    }

    #[test]
    fn messages_name_fields_never_values() {
        let secret = "李四 身份证220102199003071234";
        let cases = [
            format!(r#"{{"name": "a", "fix": {{"lat": "{secret}"}}}}"#),
            format!(r#"{{"name": "a", "fix": {{"lat": 1}}, "{secret}": 1}}"#),
            format!(r#"{{"name": "a", "fix": {{"lat": 1, "{secret}": 2}}}}"#),
            format!(r#"{{"name": 5, "fix": {{"lat": 1}}}} "{secret}""#),
            format!(r#"{{"name": "{secret}""#),
        ];
        for c in &cases {
            let e = decode_strict::<Outer>(c.as_bytes()).expect_err("refused");
            assert!(!e.message.contains("李四"), "{}", e.message);
            assert!(!e.message.contains("220102"), "{}", e.message);
        }
        let e = decode_strict::<Outer>(cases[0].as_bytes()).expect_err("refused");
        assert!(e.message.contains("`fix.lat`"), "{}", e.message);
        assert!(e.message.contains("expected f64"), "{}", e.message);
        let e = decode_strict::<Outer>(cases[2].as_bytes()).expect_err("refused");
        assert!(e.message.contains("in `fix`"), "{}", e.message);
    }

    /// The decoders try without tracking the path first; what they answer must be what the
    /// tracking decoders answer, for good input and for every kind of bad input.
    #[test]
    fn the_untracked_first_try_answers_as_the_tracking_decoder() {
        let good = r#"{"name": "a", "fix": {"lat": 1.5}}"#;
        assert_eq!(
            decode_strict::<Outer>(good.as_bytes()).unwrap().fix.lat,
            1.5
        );
        assert_eq!(decode::<Outer>(good.as_bytes()).unwrap().fix.lat, 1.5);
        let bad = [
            r#"{"name": "a", "fix": {"lat": "x"}}"#,
            r#"{"name": "a", "fix": {"lat": 1}, "extra": 1}"#,
            r#"{"name": "a", "fix": {"lat": 1, "extra": 2}}"#,
            r#"{"name": "a", "fix": {"lat": 1}} trailing"#,
            r#"{"name": "a""#,
            r#"{"name": "a"}"#,
            r#"[1, 2]"#,
            "",
        ];
        type Decoder = fn(&[u8]) -> Result<Outer, DecodeError>;
        let pairs: [(&str, Decoder, Decoder); 2] = [
            ("strict", decode_strict, decode_strict_traced),
            ("lenient", decode, decode_traced),
        ];
        let answer =
            |r: Result<Outer, DecodeError>| r.map(|_| ()).map_err(|e| (e.syntax, e.message));
        for b in bad {
            for (name, fast, traced) in pairs {
                assert_eq!(
                    answer(fast(b.as_bytes())),
                    answer(traced(b.as_bytes())),
                    "{name}: {b}"
                );
            }
        }
    }
}
