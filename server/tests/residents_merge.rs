//! Issue 12: the field-level merge under random concurrent edits. The back office (admin
//! PATCH) and two phones of the grid (scripted devices pushing `resident_update`) edit the
//! same resident in random order, the phones pulling now and then; after every step the
//! server must hold what the merge rule says, and at the end, once every conflict is
//! resolved: no change was lost, every conflict is listed exactly once, none is open.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use common::*;
use gridworker_core::model::residents::FieldUpdatePayload;
use gridworker_server::{ServerHandle, spawn_in_thread};
use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

const FIELDS: [&str; 3] = ["phone", "notes", "tags"];
const PHONES: [&str; 3] = ["13900000001", "13900000002", "13900000003"];
const NOTES: [&str; 3] = ["独居", "需要关注", ""];
const TAGS: [&str; 3] = ["veteran", "disability", "低保"];

struct World {
    _data: tempfile::TempDir,
    server: ServerHandle,
    runtime: tokio::runtime::Runtime,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let data = tempfile::tempdir().unwrap();
        let server = spawn_in_thread(config(data.path())).expect("server starts");
        World {
            _data: data,
            server,
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    })
}

#[derive(Debug, Clone)]
enum Op {
    Admin(usize, Value),
    Phone(usize, usize, Value),
    Pull(usize),
}

fn value_of(field: usize, pick: usize, set: u8) -> Value {
    match FIELDS[field] {
        "phone" => json!(PHONES[pick % PHONES.len()]),
        "notes" => json!(NOTES[pick % NOTES.len()]),
        _ => {
            let mut t: Vec<&str> = TAGS
                .iter()
                .enumerate()
                .filter(|(i, _)| set & (1 << i) != 0)
                .map(|(_, t)| *t)
                .collect();
            t.sort_unstable();
            json!(t)
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 0..3usize, 0..8u8).prop_map(|(f, p, s)| Op::Admin(f, value_of(f, p, s))),
        (0..2usize, 0..3usize, 0..3usize, 0..8u8).prop_map(|(ph, f, p, s)| Op::Phone(
            ph,
            f,
            value_of(f, p, s)
        )),
        (0..2usize).prop_map(Op::Pull),
    ]
}

async fn resident(base: &str, id: &str) -> Value {
    let (s, v) = admin_get(base, &format!("/admin/v1/residents/{id}")).await;
    assert_eq!(s, 200, "{v}");
    v
}

fn fields_of(v: &Value) -> BTreeMap<String, Value> {
    FIELDS
        .iter()
        .map(|f| (f.to_string(), v["resident"][f].clone()))
        .collect()
}

fn set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect()
}

async fn conflicts(base: &str, id: &str, status: &str) -> Vec<Value> {
    let (s, v) = admin_get(base, &format!("/admin/v1/conflicts?status={status}")).await;
    assert_eq!(s, 200);
    v["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["entity_id"] == id)
        .cloned()
        .collect()
}

struct Phone {
    device: Device,
    client: Client,
    view: BTreeMap<String, Value>,
    version: i64,
}

async fn run(ops: Vec<Op>, takes: Vec<bool>) -> Result<(), TestCaseError> {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let id = format!("r-{:07}", n % 1500 + 1);
    let base = world().server.url();
    let start = resident(&base, &id).await;
    let mut phones: Vec<Phone> = (0..2)
        .map(|p| {
            let dev = format!("merge-{n}-{p}");
            Phone {
                device: Device::new(&dev, W1),
                client: Client::new(&base, T1, &dev),
                view: fields_of(&start),
                version: start["resident"]["version"].as_i64().unwrap(),
            }
        })
        .collect();
    for op in ops {
        let before = fields_of(&resident(&base, &id).await);
        match op {
            Op::Pull(p) => {
                let now = resident(&base, &id).await;
                phones[p].view = fields_of(&now);
                phones[p].version = now["resident"]["version"].as_i64().unwrap();
            }
            Op::Admin(f, value) => {
                let field = FIELDS[f];
                let (s, v) = admin_send(
                    &base,
                    Method::PATCH,
                    &format!("/admin/v1/residents/{id}"),
                    json!({ field: value }),
                )
                .await;
                prop_assert_eq!(s, 200, "{}", v);
                prop_assert_eq!(
                    &v["resident"][field],
                    &value,
                    "the back office's edit is stored"
                );
                for c in conflicts(&base, &id, "open").await {
                    if c["field"] == field {
                        prop_assert_eq!(&c["theirs"], &value, "an open conflict follows theirs");
                    }
                }
            }
            Op::Phone(p, f, mine) => {
                let field = FIELDS[f];
                let ph = &mut phones[p];
                let prev = ph.view[field].clone();
                if prev == mine {
                    continue;
                }
                let payload = FieldUpdatePayload {
                    id: uuid::Uuid::now_v7().to_string(),
                    worker_id: W1.into(),
                    device_id: ph.client.device.clone(),
                    target_id: id.clone(),
                    base_version: ph.version,
                    fields: [(field.to_string(), mine.clone())].into(),
                    previous: [(field.to_string(), prev.clone())].into(),
                    visit_id: None,
                    recorded_at: Utc::now(),
                };
                let m = ph.device.mutation(
                    "resident_update",
                    &payload.id,
                    serde_json::to_string(&payload).unwrap(),
                );
                let r = ph.client.push(&[m]).await;
                prop_assert!(
                    matches!(
                        r.results[0].outcome,
                        gridworker_core::sync::wire::Outcome::Applied
                    ),
                    "{:?}",
                    r.results[0]
                );
                ph.view.insert(field.to_string(), mine.clone());
                let theirs = before[field].clone();
                let after = fields_of(&resident(&base, &id).await)[field].clone();
                let open: Vec<Value> = conflicts(&base, &id, "open")
                    .await
                    .into_iter()
                    .filter(|c| c["field"] == field)
                    .collect();
                if field == "tags" {
                    let (b, t, m) = (set(&prev), set(&theirs), set(&mine));
                    let want: BTreeSet<String> = t
                        .iter()
                        .filter(|x| !b.contains(*x) || m.contains(*x))
                        .chain(m.iter().filter(|x| !b.contains(*x)))
                        .cloned()
                        .collect();
                    prop_assert_eq!(set(&after), want, "tags merge as sets");
                } else if theirs == prev {
                    prop_assert_eq!(&after, &mine, "only the phone changed it: applied");
                    prop_assert!(open.is_empty(), "the edit settles an open conflict");
                } else if mine == theirs {
                    prop_assert_eq!(&after, &theirs);
                } else {
                    prop_assert_eq!(&after, &theirs, "a clash never overwrites");
                    prop_assert_eq!(open.len(), 1);
                    prop_assert_eq!(&open[0]["mine"], &mine);
                    prop_assert_eq!(&open[0]["theirs"], &theirs);
                    prop_assert_eq!(&open[0]["base"], &prev);
                }
            }
        }
        let open = conflicts(&base, &id, "open").await;
        let fields: BTreeSet<String> = open
            .iter()
            .map(|c| c["field"].as_str().unwrap().to_string())
            .collect();
        prop_assert_eq!(
            fields.len(),
            open.len(),
            "at most one open conflict per field"
        );
    }
    // The back office resolves what is open; then nothing is open and each conflict is
    // listed once, with its resolution stored as the field's value.
    for (i, c) in conflicts(&base, &id, "open").await.into_iter().enumerate() {
        let take = if takes.get(i).copied().unwrap_or(true) {
            "mine"
        } else {
            "theirs"
        };
        let (s, v) = admin_send(
            &base,
            Method::POST,
            &format!("/admin/v1/conflicts/{}/resolve", c["id"].as_str().unwrap()),
            json!({ "take": take }),
        )
        .await;
        prop_assert_eq!(s, 200, "{}", v);
        let (s, _) = admin_send(
            &base,
            Method::POST,
            &format!("/admin/v1/conflicts/{}/resolve", c["id"].as_str().unwrap()),
            json!({ "take": "theirs" }),
        )
        .await;
        prop_assert_eq!(s, 409, "a conflict is resolved once");
        let field = c["field"].as_str().unwrap();
        let stored = fields_of(&resident(&base, &id).await)[field].clone();
        prop_assert_eq!(&stored, &c[take]);
    }
    prop_assert!(conflicts(&base, &id, "open").await.is_empty());
    let all = conflicts(&base, &id, "all").await;
    let ids: BTreeSet<&str> = all.iter().map(|c| c["id"].as_str().unwrap()).collect();
    prop_assert_eq!(ids.len(), all.len(), "each conflict listed exactly once");
    // Every stored change is in the history, and the history ends on the stored values.
    let end = resident(&base, &id).await;
    let history = end["history"].as_array().unwrap();
    for f in FIELDS {
        let last = history.iter().rev().find(|h| h["field"] == f);
        let want = last.map_or(start["resident"][f].clone(), |h| h["new"].clone());
        prop_assert_eq!(&end["resident"][f], &want, "{} ends on its last change", f);
    }
    let versions: BTreeSet<i64> = history
        .iter()
        .map(|h| h["version"].as_i64().unwrap())
        .collect();
    prop_assert_eq!(
        versions.iter().next_back().copied().unwrap_or(1),
        end["resident"]["version"].as_i64().unwrap(),
        "one version per stored change"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn concurrent_edits_merge_by_field_and_lose_nothing(
        ops in prop::collection::vec(op(), 1..14),
        takes in prop::collection::vec(any::<bool>(), 3),
    ) {
        world().runtime.block_on(run(ops, takes))?;
    }
}
