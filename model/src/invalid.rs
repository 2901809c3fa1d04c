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

/// What a rule returns.
pub type Check<T = ()> = Result<T, Invalid>;
