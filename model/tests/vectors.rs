//! docs/vectors/chain.json, computed by docs/vectors/generate.py with Python's hashlib
//! (no gridworker code): the Rust hash must give the same links, and each payload must be one
//! the phone could have written (strict decode, the shared rule of its kind, its position the
//! fix converted to WGS-84). The reference server accepts the same chain
//! (server/tests/api.rs::the_chain_vectors_are_applied_as_an_intact_chain).

use gridworker_model::chain::{GENESIS, link_hash};
use gridworker_model::domain::{CheckIn, TaskAckPayload, Visit};
use gridworker_model::validate;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/chain.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("docs/vectors/chain.json"))
        .expect("JSON")
}

#[test]
fn the_rust_hash_reproduces_every_link_of_the_vectors() {
    let v = vectors();
    assert_eq!(v["genesis"], GENESIS);
    let mut prev = GENESIS.to_string();
    let links = v["links"].as_array().unwrap();
    assert_eq!(links.len(), 3);
    for (i, l) in links.iter().enumerate() {
        let s = |k: &str| l[k].as_str().unwrap().to_string();
        assert_eq!(l["seq"].as_i64(), Some(i as i64 + 1));
        assert_eq!(
            s("prev_hash"),
            prev,
            "link {} follows the previous one",
            i + 1
        );
        let h = link_hash(
            &prev,
            i as i64 + 1,
            &s("kind"),
            &s("mutation_id"),
            &s("payload"),
        );
        assert_eq!(h, s("hash"), "link {}", i + 1);
        if let Some(hex_input) = l["hash_input_hex"].as_str() {
            let input = format!(
                "{prev}\n{}\n{}\n{}\n{}",
                i + 1,
                s("kind"),
                s("mutation_id"),
                s("payload")
            );
            assert_eq!(hex::encode(input.as_bytes()), hex_input);
        }
        prev = h;
    }
    // The note's quote and line break are escapes in the payload text, its Chinese raw UTF-8.
    let note_link = links[1]["payload"].as_str().unwrap();
    assert!(note_link.contains(r#"\"王阿姨\""#) && note_link.contains(r"\n已联系"));
}

#[test]
fn the_vector_payloads_are_ones_the_phone_could_write() {
    let v = vectors();
    for l in v["links"].as_array().unwrap() {
        let payload = l["payload"].as_str().unwrap();
        let (record_id, device) = match l["kind"].as_str().unwrap() {
            "checkin" => {
                let c: CheckIn = serde_json::from_str(payload).unwrap();
                validate::checkin(&c).unwrap();
                assert_eq!(c.position, c.fix.position(), "position = the fix in WGS-84");
                (c.id, c.device_id)
            }
            "visit" => {
                let c: Visit = serde_json::from_str(payload).unwrap();
                validate::visit(&c).unwrap();
                assert_eq!(c.position, c.fix.position());
                (c.id, c.device_id)
            }
            "task_ack" => {
                let a: TaskAckPayload = serde_json::from_str(payload).unwrap();
                validate::task_ack(&a).unwrap();
                (a.task_id, a.device_id)
            }
            other => panic!("unexpected kind {other}"),
        };
        assert_eq!(l["record_id"].as_str(), Some(record_id.as_str()));
        assert_eq!(v["device_id"].as_str(), Some(device.as_str()));
        // Exactly the phone's serialisation: decoding and writing again gives the same text.
        let again = match l["kind"].as_str().unwrap() {
            "checkin" => serde_json::to_string(&serde_json::from_str::<CheckIn>(payload).unwrap()),
            "visit" => serde_json::to_string(&serde_json::from_str::<Visit>(payload).unwrap()),
            _ => serde_json::to_string(&serde_json::from_str::<TaskAckPayload>(payload).unwrap()),
        }
        .unwrap();
        assert_eq!(again, payload);
    }
}
