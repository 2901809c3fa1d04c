//! The one refusal the model's rules give: which field, and which rule it broke.
//!
//! Never the value: fields hold residents' personal data (names, notes, addresses).

/// A value a rule refuses. The device turns it into `Error::InvalidInput`, the server into a
/// 400 or a per-mutation rejection; both show `field: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    /// The field's path, such as `fix.lat` or `photos.sha256`.
    pub field: String,
    /// The rule, such as `must not be empty`.
    pub reason: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A JSON decoding failure said without the text that failed: serde_json's own messages quote
/// the offending value (`invalid type: string "139…"`), which may be a resident's data.
pub fn json_error_shape(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let kind = match e.classify() {
        Category::Io => "unreadable",
        Category::Syntax => "not JSON",
        Category::Data => "JSON of the wrong shape",
        Category::Eof => "cut short",
    };
    format!("{kind} (line {}, column {})", e.line(), e.column())
}

/// What a rule returns.
pub type Check<T = ()> = Result<T, Invalid>;

#[cfg(test)]
mod tests {
    #[test]
    fn json_errors_are_said_without_the_value() {
        let e = serde_json::from_str::<u32>("\"13912345678\"").unwrap_err();
        assert!(
            e.to_string().contains("13912345678"),
            "serde_json quotes it: {e}"
        );
        let said = super::json_error_shape(&e);
        assert!(!said.contains("13912345678"), "{said}");
        assert!(said.starts_with("JSON of the wrong shape"), "{said}");
    }
}
