//! Tamper evidence: every outbox mutation is chained to the previous one of this device.
//!
//! `hash = hex(sha256(prev_hash ‖ "\n" ‖ seq ‖ "\n" ‖ kind ‖ "\n" ‖ mutation_id ‖ "\n" ‖ payload))`
//! where `payload` is the exact JSON text sent on the wire and `seq` is decimal. The first
//! mutation of a device links to [`GENESIS`]. A server that keeps the last hash per device can
//! tell a deleted record (the next link does not match) from an altered one (the hash does not
//! match the content). Documented for back-end teams in docs/protocol.md.

use sha2::{Digest, Sha256};

/// The `prev_hash` of a device's first mutation.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Computes the chained hash of one mutation.
pub fn link_hash(
    prev_hash: &str,
    seq: i64,
    kind: &str,
    mutation_id: &str,
    payload: &str,
) -> String {
    let hex = link_hex(prev_hash, seq, kind, mutation_id, payload);
    // Hex digits are ASCII.
    String::from_utf8_lossy(&hex).into_owned()
}

/// Whether `hash` is the chained hash of the mutation: [`link_hash`] without building a
/// string, for a server checking every mutation it is sent.
pub fn link_matches(
    hash: &str,
    prev_hash: &str,
    seq: i64,
    kind: &str,
    mutation_id: &str,
    payload: &str,
) -> bool {
    link_hex(prev_hash, seq, kind, mutation_id, payload) == hash.as_bytes()
}

/// The lowercase hex digits of a link's hash.
fn link_hex(prev_hash: &str, seq: i64, kind: &str, mutation_id: &str, payload: &str) -> [u8; 64] {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(kind.as_bytes());
    h.update(b"\n");
    h.update(mutation_id.as_bytes());
    h.update(b"\n");
    h.update(payload.as_bytes());
    let mut out = [0u8; 64];
    // 32 bytes always fit 64 digits.
    let _ = hex::encode_to_slice(h.finalize(), &mut out);
    out
}

/// Outcome of checking one link against the previous known head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkCheck {
    /// Content hash matches and the link follows the known head.
    Ok,
    /// The hash does not match the content: the record was altered.
    Altered,
    /// The content is intact but the link skips or forks from the known head: records were
    /// deleted or reordered before this one.
    Break { expected_prev: String },
}

/// Verifies one mutation given the last hash known for its device (or [`GENESIS`]).
pub fn verify_link(
    known_head: &str,
    prev_hash: &str,
    hash: &str,
    seq: i64,
    kind: &str,
    mutation_id: &str,
    payload: &str,
) -> LinkCheck {
    if !link_matches(hash, prev_hash, seq, kind, mutation_id, payload) {
        return LinkCheck::Altered;
    }
    if prev_hash != known_head {
        return LinkCheck::Break {
            expected_prev: known_head.to_string(),
        };
    }
    LinkCheck::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_detects_alteration_and_deletion() {
        let h1 = link_hash(GENESIS, 1, "checkin", "m1", "{\"a\":1}");
        let h2 = link_hash(&h1, 2, "visit", "m2", "{\"b\":2}");
        let h3 = link_hash(&h2, 3, "visit", "m3", "{\"c\":3}");
        assert_eq!(
            verify_link(GENESIS, GENESIS, &h1, 1, "checkin", "m1", "{\"a\":1}"),
            LinkCheck::Ok
        );
        assert_eq!(
            verify_link(&h1, &h1, &h2, 2, "visit", "m2", "{\"b\":3}"),
            LinkCheck::Altered
        );
        // m2 deleted: m3 arrives right after m1.
        assert_eq!(
            verify_link(&h1, &h2, &h3, 3, "visit", "m3", "{\"c\":3}"),
            LinkCheck::Break {
                expected_prev: h1.clone()
            }
        );
        assert_ne!(h1, h2);
    }
}
