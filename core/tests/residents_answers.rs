//! Residents on the phone after pulls and the server's answers: what a phone shows must
//! come back to the server's copy once its edits and resolutions are answered.

mod support;
mod sync_support;

use gridworker_core::GridWorker;
use gridworker_core::model::residents::{Relation, Resolution};
use gridworker_core::sync::SyncEngine;
use gridworker_core::sync::apply::apply_page;
use gridworker_core::sync::wire::PullResponse;
use gridworker_core::worker::{HouseholdUpdate, NewResident, ResidentUpdate, ResidentView};
use reqwest::Method;
use serde_json::{Value, json};
use sync_support::{Device, RealServer, Tokens, fast_options};

fn page(changes: Value, cursor: &str) -> PullResponse {
    serde_json::from_value(json!({"changes": changes, "next_cursor": cursor, "has_more": false}))
        .unwrap()
}

fn resident(id: &str, household: &str, phone: &str, version: i64) -> Value {
    json!({"type": "resident_upsert", "resident": {
        "id": id, "household_id": household, "name": "于秀珍",
        "id_number": "11010519491231002X", "phone": phone, "relation": "head",
        "tags": [], "status": "living", "notes": "", "version": version}})
}

const BASE: &str = "13800000000";
const MINE: &str = "13900001111";
const THEIRS: &str = "13822223333";

/// A conflict on a resident's phone: `[base, mine, theirs]`.
fn conflict(id: &str, (entity_id, household): (&str, &str), values: [&str; 3]) -> Value {
    let [base, mine, theirs] = values;
    json!({"type": "conflict_upsert", "conflict": {
        "id": id, "entity": "resident", "entity_id": entity_id, "household_id": household,
        "field": "phone", "base": base, "mine": mine, "theirs": theirs,
        "mine_by": "w-0001", "mine_at": "2026-11-23T01:00:00Z",
        "theirs_by": "admin", "theirs_at": "2026-11-23T01:05:00Z",
        "status": "open", "resolution": null, "resolved_by": null, "resolved_at": null}})
}

fn phone_of(w: &GridWorker, id: &str) -> Option<String> {
    w.resident_unmasked(id).unwrap().phone
}

/// A device synced once with the fixtures' server, and a head of household of its grid.
async fn synced_with_a_resident(server: &RealServer) -> (Device, SyncEngine, ResidentView) {
    let dev = Device::new(&server.url);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    let grid = dev.worker.worker_grids().unwrap()[0].clone();
    let households = dev.worker.households_page(&grid, None, 50).unwrap().items;
    let r = households
        .iter()
        .flat_map(|h| dev.worker.household_detail(&h.id).unwrap().residents)
        .find(|r| r.relation == Relation::Head)
        .expect("a resident");
    (dev, engine, r)
}

fn edit_phone(w: &GridWorker, id: &str, phone: &str) {
    w.update_resident(
        id,
        ResidentUpdate {
            phone: Some(phone.into()),
            ..Default::default()
        },
        None,
    )
    .unwrap();
}

async fn office_sets_phone(server: &RealServer, id: &str, phone: &str) {
    server
        .admin_send(
            Method::PATCH,
            &format!("/admin/v1/residents/{id}"),
            json!({ "phone": phone }),
        )
        .await;
}

/// A resolution made on the phone, not yet pushed, must stay laid over a pulled resident
/// even when the pull also re-sends the (still open) conflict, e.g. because the back office
/// changed the field again (which updates the open conflict's `theirs`).
#[test]
fn a_pending_resolution_survives_a_pull_of_its_open_conflict() {
    let env = support::Env::new();
    let w = &env.core;
    apply_page(
        w,
        page(
            json!([
                resident("r-1", "H11", "13822223333", 2),
                conflict("c-1", ("r-1", "H11"), [BASE, MINE, THEIRS]),
            ]),
            "1",
        ),
    )
    .unwrap();
    w.resolve_conflict("c-1", Resolution::Mine, None).unwrap();
    assert_eq!(phone_of(w, "r-1").as_deref(), Some("13900001111"));

    // The back office changes the phone again: the server updates the open conflict's
    // theirs (conflict_upsert, open) and stores the resident (resident_upsert), in this order.
    apply_page(
        w,
        page(
            json!([
                conflict("c-1", ("r-1", "H11"), [BASE, MINE, "13755556666"]),
                resident("r-1", "H11", "13755556666", 3),
            ]),
            "2",
        ),
    )
    .unwrap();
    assert_eq!(
        phone_of(w, "r-1").as_deref(),
        Some("13900001111"),
        "a pulled change hid the resolution waiting to be sent"
    );
    let c = w.conflict("c-1").unwrap();
    assert!(c.resolving);
    assert_eq!(
        c.conflict.resolution,
        Some(json!("13900001111")),
        "the phone's resolution is still shown on the conflict"
    );
}

/// The phone resolves a conflict that the back office already settled by keeping the
/// stored value ("theirs": nothing new stored, so no resident_upsert follows). The server
/// keeps its value (the phone's resolution is `conflict_already_resolved`, no effect); the
/// phone must not keep showing its own value forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_that_came_too_late_does_not_stay_on_the_phone() {
    let server = RealServer::start(&["tok"]);
    let (dev, engine, r) = synced_with_a_resident(&server).await;

    // A conflict on the phone number: the phone and the back office both change it.
    edit_phone(&dev.worker, &r.id, "13900001111");
    office_sets_phone(&server, &r.id, "13822223333").await;
    engine.sync().await.unwrap();
    let conflicts = dev.worker.conflicts_page(false, None, 100).unwrap().items;
    assert_eq!(conflicts.len(), 1);
    let cid = conflicts[0].conflict.id.clone();
    assert_eq!(phone_of(&dev.worker, &r.id).as_deref(), Some("13822223333"));

    // The back office settles it first, keeping its value.
    server
        .admin_send(
            Method::POST,
            &format!("/admin/v1/conflicts/{cid}/resolve"),
            json!({"take": "theirs"}),
        )
        .await;
    // Offline, the worker takes their own value.
    dev.worker
        .resolve_conflict(&cid, Resolution::Mine, None)
        .unwrap();
    engine.sync().await.unwrap();

    let on_server = server
        .admin_json(&format!("/admin/v1/residents/{}", r.id))
        .await;
    assert_eq!(on_server["resident"]["phone"], "13822223333");
    let c = dev.worker.conflict(&cid).unwrap();
    assert!(!c.resolving, "the server's word: resolved");
    assert_eq!(c.conflict.resolution, Some(json!("13822223333")));
    assert_eq!(
        phone_of(&dev.worker, &r.id).as_deref(),
        Some("13822223333"),
        "the phone still shows a value the server refused"
    );
}

/// Pulls every page by hand and applies it as the engine would: a pull with no push
/// before it, as when an edit is made after a run's push and before its pull.
async fn pull_by_hand(dev: &Device, server: &RealServer) {
    let http = reqwest::Client::new();
    let mut cursor = String::new();
    loop {
        let page: PullResponse = http
            .get(format!(
                "{}/v1/changes?cursor={cursor}&limit=5000",
                server.url
            ))
            .bearer_auth("tok")
            .header(
                "gridworker-protocol",
                gridworker_core::model::wire::PROTOCOL_VERSION,
            )
            .header("gridworker-device", "dev-A")
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        cursor = page.next_cursor.clone();
        let more = page.has_more;
        let w = dev.worker.clone();
        sync_support::blocking(move || apply_page(&w, page).unwrap()).await;
        if !more {
            return;
        }
    }
}

/// An edit still waiting when a pull brought the back office's change of the same field is
/// laid over it; the server answers the edit with a conflict and stores nothing. The phone
/// must then show the stored value, as it does when the push comes first
/// (residents_sync.rs: "the stored value stays until resolved").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_answered_as_a_conflict_does_not_stay_laid_over() {
    let server = RealServer::start(&["tok"]);
    let (dev, engine, r) = synced_with_a_resident(&server).await;

    office_sets_phone(&server, &r.id, "13822223333").await;
    edit_phone(&dev.worker, &r.id, "13900001111");
    pull_by_hand(&dev, &server).await;
    assert_eq!(
        phone_of(&dev.worker, &r.id).as_deref(),
        Some("13900001111"),
        "the waiting edit is laid over the pulled row"
    );

    engine.sync().await.unwrap();
    let conflicts = dev.worker.conflicts_page(false, None, 100).unwrap().items;
    assert_eq!(conflicts.len(), 1, "the phone number is one conflict");
    let on_server = server
        .admin_json(&format!("/admin/v1/residents/{}", r.id))
        .await;
    assert_eq!(on_server["resident"]["phone"], "13822223333");
    assert_eq!(
        phone_of(&dev.worker, &r.id).as_deref(),
        Some("13822223333"),
        "the stored value stays until resolved"
    );
}

/// The visit screen lists a household's open conflicts: all of them, however many other
/// households have.
#[test]
fn household_detail_lists_its_conflicts_whatever_other_households_have() {
    let env = support::Env::new();
    let w = &env.core;
    let mut changes = vec![resident("r-1", "H11", "13800000000", 1)];
    changes.push(resident("r-2", "H12", "13800000001", 1));
    for i in 0..1000 {
        changes.push(conflict(
            &format!("c-{i:04}"),
            ("r-1", "H11"),
            [BASE, MINE, THEIRS],
        ));
    }
    changes.push(conflict(
        "c-z",
        ("r-2", "H12"),
        ["13800000001", "13900001112", "13822223334"],
    ));
    apply_page(w, page(Value::from(changes), "1")).unwrap();
    let card_count = w.search_households("13800000001", None, 10).unwrap().items[0].open_conflicts;
    assert_eq!(card_count, 1, "the card counts it");
    let detail = w.household_detail("H12").unwrap();
    assert_eq!(detail.conflicts.len(), 1, "the visit screen lists it");
}

/// A resident or household the phone no longer holds (deleted, or moved out of the
/// worker's grids) takes its conflicts with it: nothing on the phone could show or settle
/// them.
#[test]
fn conflicts_leave_with_their_resident_or_household() {
    let env = support::Env::new();
    let w = &env.core;
    apply_page(
        w,
        page(
            json!([
                resident("r-1", "H11", BASE, 1),
                resident("r-2", "H12", BASE, 1),
                conflict("c-1", ("r-1", "H11"), [BASE, MINE, THEIRS]),
                conflict("c-2", ("r-2", "H12"), [BASE, MINE, THEIRS]),
            ]),
            "1",
        ),
    )
    .unwrap();
    let open = |w: &GridWorker| -> Vec<String> {
        let page = w.conflicts_page(false, None, 100).unwrap();
        page.items.into_iter().map(|c| c.conflict.id).collect()
    };
    assert_eq!(open(w), ["c-1", "c-2"]);

    apply_page(
        w,
        page(json!([{"type": "resident_delete", "id": "r-1"}]), "2"),
    )
    .unwrap();
    assert_eq!(open(w), ["c-2"], "the deleted resident's conflict is gone");

    apply_page(
        w,
        page(json!([{"type": "household_delete", "id": "H12"}]), "3"),
    )
    .unwrap();
    assert!(
        open(w).is_empty(),
        "the deleted household's conflicts are gone"
    );
}

/// Damages the payload of the newest outbox entry the way storage damage would, keeping it
/// readable JSON: it no longer matches its chain hash, so the server rejects it
/// (`hash_mismatch`) and stores nothing of it.
fn damage_newest_entry(w: &GridWorker) {
    let n = w
        .test_store()
        .write(|tx| {
            Ok(tx.execute(
                "UPDATE outbox SET payload = ' ' || payload WHERE seq = (SELECT MAX(seq) FROM outbox)",
                [],
            )?)
        })
        .unwrap();
    assert_eq!(n, 1);
}

const NOTES: &str = "独居老人，腿脚不便";

/// An edit the server rejects is not stored there, and nothing in the feed brings the phone
/// back: the phone itself must show the values it had before the edit again (a resident's
/// and a household's), search included, and list the edit as rejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_edit_is_taken_back_on_the_phone() {
    let server = RealServer::start(&["tok"]);
    let (dev, engine, r) = synced_with_a_resident(&server).await;
    let before = phone_of(&dev.worker, &r.id).expect("the fixture's head has a phone");
    let notes_before = dev
        .worker
        .household_detail(&r.household_id)
        .unwrap()
        .profile
        .notes;

    edit_phone(&dev.worker, &r.id, MINE);
    damage_newest_entry(&dev.worker);
    dev.worker
        .update_household(
            &r.household_id,
            HouseholdUpdate {
                notes: Some(NOTES.into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    damage_newest_entry(&dev.worker);
    assert_eq!(phone_of(&dev.worker, &r.id).as_deref(), Some(MINE));
    assert_eq!(
        dev.worker
            .search_households(MINE, None, 10)
            .unwrap()
            .items
            .len(),
        1
    );

    let report = engine.sync().await.unwrap();
    assert_eq!(report.rejected, 2, "{report:?}");
    assert_eq!(
        phone_of(&dev.worker, &r.id),
        Some(before.clone()),
        "the phone still shows a resident's edit the server rejected"
    );
    assert_eq!(
        dev.worker
            .household_detail(&r.household_id)
            .unwrap()
            .profile
            .notes,
        notes_before,
        "the phone still shows a household's edit the server rejected"
    );
    let found = dev.worker.search_households(MINE, None, 10).unwrap().items;
    assert!(
        found.is_empty(),
        "the search index still holds the rejected value"
    );
    let on_server = server
        .admin_json(&format!("/admin/v1/residents/{}", r.id))
        .await;
    assert_eq!(on_server["resident"]["phone"], json!(before));

    // Taken back, not lost: the worker can make the edit again, and it is stored.
    edit_phone(&dev.worker, &r.id, MINE);
    let report = engine.sync().await.unwrap();
    assert_eq!((report.pushed, report.rejected), (1, 0), "{report:?}");
    assert_eq!(phone_of(&dev.worker, &r.id).as_deref(), Some(MINE));
}

/// A resolution the server rejects leaves its conflict open on the server; on the phone it
/// must be open again too (not `resolving` for good), show the stored value, and take a new
/// resolution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_resolution_opens_its_conflict_again() {
    let server = RealServer::start(&["tok"]);
    let (dev, engine, r) = synced_with_a_resident(&server).await;
    edit_phone(&dev.worker, &r.id, MINE);
    office_sets_phone(&server, &r.id, THEIRS).await;
    engine.sync().await.unwrap();
    let conflicts = dev.worker.conflicts_page(false, None, 100).unwrap().items;
    assert_eq!(conflicts.len(), 1);
    let cid = conflicts[0].conflict.id.clone();

    dev.worker
        .resolve_conflict(&cid, Resolution::Mine, None)
        .unwrap();
    damage_newest_entry(&dev.worker);
    let report = engine.sync().await.unwrap();
    assert_eq!(report.rejected, 1, "{report:?}");
    let c = dev.worker.conflict(&cid).unwrap();
    assert!(
        !c.resolving,
        "a rejected resolution left its conflict resolving"
    );
    assert_eq!(c.conflict.resolution, None);
    assert_eq!(phone_of(&dev.worker, &r.id).as_deref(), Some(THEIRS));

    dev.worker
        .resolve_conflict(&cid, Resolution::Mine, None)
        .expect("the conflict can be resolved again");
    let report = engine.sync().await.unwrap();
    assert_eq!(report.rejected, 0, "{report:?}");
    let on_server = server
        .admin_json(&format!("/admin/v1/residents/{}", r.id))
        .await;
    assert_eq!(on_server["resident"]["phone"], MINE);
    assert_eq!(phone_of(&dev.worker, &r.id).as_deref(), Some(MINE));
    assert!(!dev.worker.conflict(&cid).unwrap().resolving);
}

/// A resident added on the phone and rejected by the server does not exist there: it must
/// not stay in the household on the phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_new_resident_leaves_the_phone() {
    let server = RealServer::start(&["tok"]);
    let (dev, engine, r) = synced_with_a_resident(&server).await;
    let added = dev
        .worker
        .add_resident(
            &NewResident {
                household_id: r.household_id.clone(),
                name: "车晓梅".into(),
                id_number: "230302199001011231".into(),
                phone: None,
                relation: Relation::Child,
                tags: vec![],
                notes: String::new(),
            },
            None,
        )
        .unwrap();
    damage_newest_entry(&dev.worker);
    assert!(
        !dev.worker
            .search_households("车晓梅", None, 10)
            .unwrap()
            .items
            .is_empty()
    );

    let report = engine.sync().await.unwrap();
    assert_eq!(report.rejected, 1, "{report:?}");
    let detail = dev.worker.household_detail(&r.household_id).unwrap();
    assert!(
        detail.residents.iter().all(|x| x.id != added.id),
        "a resident the server never stored is still shown"
    );
    assert!(
        dev.worker
            .search_households("车晓梅", None, 10)
            .unwrap()
            .items
            .is_empty()
    );
    assert!(dev.worker.resident_unmasked(&added.id).is_err());
}

/// Taking back a rejected edit lays the edits still waiting over the phone's copy again: a
/// later edit that set the same value back (phone A -> B rejected, B -> C and C -> B still
/// waiting) keeps showing, and so does a waiting edit of another field.
#[test]
fn taking_back_a_rejected_edit_keeps_the_edits_still_waiting() {
    use gridworker_core::test_hooks::{outbox, rejected_edits};
    let env = support::Env::new();
    let w = &env.core;
    apply_page(w, page(json!([resident("r-1", "H11", BASE, 1)]), "1")).unwrap();
    edit_phone(w, "r-1", MINE);
    edit_phone(w, "r-1", THEIRS);
    edit_phone(w, "r-1", MINE);
    w.update_resident(
        "r-1",
        ResidentUpdate {
            notes: Some(NOTES.into()),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    w.test_store()
        .write(|tx| {
            let (seq, mutation_id): (i64, String) = tx.query_row(
                "SELECT seq, mutation_id FROM outbox ORDER BY seq LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            outbox::mark_rejected(tx, &mutation_id, "invalid_payload", "test")?;
            rejected_edits::take_back_answered(tx, &[seq]);
            Ok(())
        })
        .unwrap();
    let shown = w.resident_unmasked("r-1").unwrap();
    assert_eq!(shown.phone.as_deref(), Some(MINE));
    assert_eq!(shown.notes, NOTES);

    // The later edits rejected too, in the next batch's answers: the pulled value shows
    // again.
    w.test_store()
        .write(|tx| {
            let rows: Vec<(i64, String)> = tx
                .prepare("SELECT seq, mutation_id FROM outbox WHERE state = 'pending'")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (_, mutation_id) in &rows {
                outbox::mark_rejected(tx, mutation_id, "invalid_payload", "test")?;
            }
            let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
            rejected_edits::take_back_answered(tx, &seqs);
            Ok(())
        })
        .unwrap();
    let shown = w.resident_unmasked("r-1").unwrap();
    assert_eq!(shown.phone.as_deref(), Some(BASE));
    assert_eq!(shown.notes, "");
}

/// A pull cut short (here by the run's page budget, as a lost network would) leaves what
/// its committed pages brought usable offline: their households searchable (search
/// documents otherwise wait for the end of a pull) and their grids in the spatial index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_cut_short_leaves_what_it_brought_searchable() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let options = gridworker_core::sync::SyncOptions {
        pull_page_limit: 40,
        max_pull_pages: 3,
        ..fast_options()
    };
    let engine = dev.engine(Tokens::fixed("tok"), options);
    assert!(
        engine.sync().await.is_err(),
        "the page budget stops the pull"
    );
    let households: Vec<(String, String, f64, f64)> = dev
        .worker
        .test_store()
        .read(|c| {
            Ok(c.prepare("SELECT id, address, lat, lon FROM households")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?)
        })
        .unwrap();
    assert!(
        !households.is_empty(),
        "the committed pages hold households"
    );
    for (id, address, lat, lon) in &households {
        let found = dev
            .worker
            .search_households(address, None, 50)
            .unwrap()
            .items;
        assert!(
            found.iter().any(|h| &h.household.id == id),
            "household {id} is not found by its address after a pull cut short"
        );
        let at = gridworker_core::geo::Position::new(*lat, *lon);
        assert!(
            dev.worker.grid_at(at).unwrap().is_some(),
            "household {id}'s grid is not in the spatial index"
        );
    }
}

/// A residents edit set aside (quarantined: a proxy refused its push as too large) waits for
/// the worker's decision. Until then a pull of its resident keeps showing it, like an edit
/// still pending; discarded, the phone shows the stored value again, search included. (A
/// pull showed the server's value while the edit waited; a discard left the worker's value
/// on the phone for good, over a record the server never got.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantined_edit_shows_until_the_worker_discards_it() {
    let server = RealServer::start(&["tok"]);
    let (dev, engine, r) = synced_with_a_resident(&server).await;
    let before = phone_of(&dev.worker, &r.id).expect("the fixture's head has a phone");
    edit_phone(&dev.worker, &r.id, MINE);
    server.refuse_next_push_as_too_large();
    let report = engine.sync().await.unwrap();
    assert_eq!(report.quarantined.len(), 1, "{report:?}");
    let edit = report.quarantined[0].record_id.clone();

    // The back office changes another field: the pull brings the resident again.
    server
        .admin_send(
            Method::PATCH,
            &format!("/admin/v1/residents/{}", r.id),
            json!({ "notes": NOTES }),
        )
        .await;
    let report = engine.sync().await.unwrap();
    assert!(report.pulled_changes > 0, "{report:?}");
    let shown = dev.worker.resident_unmasked(&r.id).unwrap();
    assert_eq!(shown.notes, NOTES, "the office's change reached the phone");
    assert_eq!(
        shown.phone.as_deref(),
        Some(MINE),
        "the edit waiting for the worker's decision is not shown"
    );

    dev.worker.discard_quarantined(&edit).unwrap();
    assert_eq!(
        phone_of(&dev.worker, &r.id),
        Some(before.clone()),
        "the discarded edit still shows"
    );
    assert!(
        dev.worker
            .search_households(MINE, None, 10)
            .unwrap()
            .items
            .is_empty(),
        "the search index still holds the discarded value"
    );
    engine.sync().await.unwrap();
    assert_eq!(phone_of(&dev.worker, &r.id), Some(before.clone()));
    let on_server = server
        .admin_json(&format!("/admin/v1/residents/{}", r.id))
        .await;
    assert_eq!(on_server["resident"]["phone"], json!(before));
}
