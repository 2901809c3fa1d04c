//! The field-level three-way merge (docs/protocol.md §4.7). An edit carries, for each field
//! it changes, the value the phone showed before (its base) and the new value (mine); the
//! server holds the stored value (theirs).
//!
//! - nobody else changed the field (theirs = base): the edit's value is applied;
//! - the edit and the other side agree (mine = theirs): nothing to do;
//! - tags (a set): both sides' additions and removals are applied, never a conflict;
//! - any other field changed on both sides to different values: a conflict that keeps the
//!   base, both values and who changed what; the stored value stays as it is until someone
//!   resolves it. Nothing is silently overwritten and nothing is lost.
//!
//! The base is the phone's own view, not a version number: a phone's later edit is made on
//! its earlier ones, which the server applied already, and an edit of a set must remove
//! exactly what the phone removed from what it showed.

use serde_json::Value;

use crate::residents::fields::MergeKind;

/// What merging one field gives.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldMerge {
    /// Store this value as the field's new value.
    Apply(Value),
    /// The stored value already is the merged value.
    Unchanged,
    /// Both sides changed the field to different values.
    Conflict {
        base: Value,
        mine: Value,
        theirs: Value,
    },
}

/// Merges one field: `base` is what the phone showed before its edit, `theirs` the stored
/// value, `mine` the edit's.
pub fn merge_field(kind: MergeKind, base: &Value, theirs: &Value, mine: &Value) -> FieldMerge {
    let result = if theirs == base {
        mine.clone()
    } else {
        match kind {
            MergeKind::Set => merge_sets(base, theirs, mine),
            MergeKind::Scalar if mine == theirs || mine == base => return FieldMerge::Unchanged,
            MergeKind::Scalar => {
                return FieldMerge::Conflict {
                    base: base.clone(),
                    mine: mine.clone(),
                    theirs: theirs.clone(),
                };
            }
        }
    };
    if &result == theirs {
        FieldMerge::Unchanged
    } else {
        FieldMerge::Apply(result)
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// `theirs ∪ (mine − base) − (base − mine)`, sorted.
pub fn merge_sets(base: &Value, theirs: &Value, mine: &Value) -> Value {
    let (b, t, m) = (strings(base), strings(theirs), strings(mine));
    let mut out: Vec<&str> = t
        .iter()
        .copied()
        .filter(|x| !b.contains(x) || m.contains(x))
        .chain(m.iter().copied().filter(|x| !b.contains(x)))
        .collect();
    out.sort_unstable();
    out.dedup();
    Value::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_four_cases() {
        let s = MergeKind::Scalar;
        // Only the edit changed it.
        assert_eq!(
            merge_field(s, &json!("a"), &json!("a"), &json!("b")),
            FieldMerge::Apply(json!("b"))
        );
        // Both, to the same value.
        assert_eq!(
            merge_field(s, &json!("a"), &json!("b"), &json!("b")),
            FieldMerge::Unchanged
        );
        // Both, differently.
        assert_eq!(
            merge_field(s, &json!("a"), &json!("b"), &json!("c")),
            FieldMerge::Conflict {
                base: json!("a"),
                mine: json!("c"),
                theirs: json!("b")
            }
        );
        // Tags: the worker added veteran, the back office removed 低保 and added disability.
        assert_eq!(
            merge_field(
                MergeKind::Set,
                &json!(["低保"]),
                &json!(["disability"]),
                &json!(["veteran", "低保"])
            ),
            FieldMerge::Apply(json!(["disability", "veteran"]))
        );
    }
}
