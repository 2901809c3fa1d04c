//! Issue 12: residents and household profiles edited offline, merged field by field on the
//! real reference server (127.0.0.1), conflicts seen and resolved on the phone, lookups and
//! masking on the device, and bad input that changes nothing.

mod support;
mod sync_support;

use gridworker_core::model::residents::{Relation, ResidentStatus, Resolution};
use gridworker_core::worker::{HouseholdUpdate, NewResident, ResidentUpdate};
use gridworker_core::{Error, GridWorker};
use reqwest::Method;
use serde_json::{Value, json};
use sync_support::{Device, RealServer, Tokens, assert_all_synced_once, fast_options};

/// The first household of the worker's grid with a living head and at least two residents.
fn a_family(w: &GridWorker) -> (String, Vec<gridworker_core::worker::ResidentView>) {
    let grid = w.worker_grids().unwrap()[0].clone();
    let mut after = None;
    loop {
        let page = w.households_page(&grid, after.as_deref(), 50).unwrap();
        for h in &page.items {
            let d = w.household_detail(&h.id).unwrap();
            if d.residents.len() >= 2 && d.residents[0].relation == Relation::Head {
                return (h.id.clone(), d.residents);
            }
        }
        after = Some(page.next.expect("a family in the grid"));
    }
}

fn outbox_len(dev: &Device) -> usize {
    dev.outbox().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_edited_on_both_sides_is_one_conflict_tags_merge_and_the_resolution_wins() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    let (household, people) = a_family(&dev.worker);
    let r = &people[0];
    let full = dev.worker.resident_unmasked(&r.id).unwrap();
    assert!(!full.masked && r.masked);
    assert!(r.id_number.contains("********"), "lists mask ID numbers");
    let before_phone = full.phone.clone();

    // Offline on the phone: a new phone number.
    dev.worker
        .update_resident(
            &r.id,
            ResidentUpdate {
                phone: Some("139 0000 1111".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    assert_eq!(
        dev.worker
            .resident_unmasked(&r.id)
            .unwrap()
            .phone
            .as_deref(),
        Some("13900001111"),
        "the edit shows at once, normalised"
    );
    // Meanwhile the back office changes the same phone and the tags.
    server
        .admin_send(
            Method::PATCH,
            &format!("/admin/v1/residents/{}", r.id),
            json!({"phone": "13822223333", "tags": ["veteran"]}),
        )
        .await;

    engine.sync().await.unwrap();
    let shown = dev.worker.resident_unmasked(&r.id).unwrap();
    assert_eq!(shown.tags, vec!["veteran".to_string()], "tags merged");
    assert_eq!(
        shown.phone.as_deref(),
        Some("13822223333"),
        "the stored value stays until resolved"
    );
    let conflicts = dev.worker.conflicts_page(false, None, 100).unwrap().items;
    assert_eq!(conflicts.len(), 1, "one conflict, listed once");
    let listed = &conflicts[0].conflict;
    assert_eq!(listed.field, "phone");
    assert_eq!(listed.mine, json!("139****1111"), "lists mask the values");
    let c = dev.worker.conflict(&listed.id).unwrap().conflict;
    assert_eq!(c.mine, json!("13900001111"));
    assert_eq!(c.theirs, json!("13822223333"));
    assert_eq!(c.base, json!(before_phone));
    assert_eq!(c.mine_by, sync_support::WORKER);
    assert_eq!(c.theirs_by, "admin");
    let detail = dev.worker.household_detail(&household).unwrap();
    assert_eq!(detail.conflicts.len(), 1);

    // Resolved on the phone: take mine. Shown at once, then synced.
    let v = dev
        .worker
        .resolve_conflict(&c.id, Resolution::Mine, None)
        .unwrap();
    assert!(v.resolving);
    assert_eq!(
        dev.worker
            .resident_unmasked(&r.id)
            .unwrap()
            .phone
            .as_deref(),
        Some("13900001111")
    );
    let again = dev.worker.resolve_conflict(&c.id, Resolution::Theirs, None);
    assert!(
        matches!(again, Err(Error::InvalidState { .. })),
        "{again:?}"
    );
    engine.sync().await.unwrap();

    let on_server = server
        .admin_json(&format!("/admin/v1/residents/{}", r.id))
        .await;
    assert_eq!(on_server["resident"]["phone"], "13900001111");
    assert_eq!(on_server["resident"]["tags"], json!(["veteran"]));
    assert_eq!(on_server["open_conflicts"], json!([]));
    let history = on_server["history"].as_array().unwrap();
    let phone_changes: Vec<&Value> = history.iter().filter(|h| h["field"] == "phone").collect();
    assert_eq!(phone_changes.len(), 2, "{history:?}");
    assert_eq!(phone_changes[0]["actor"], "admin");
    assert_eq!(phone_changes[1]["actor"], sync_support::WORKER);
    assert!(
        phone_changes[1]["source"]
            .as_str()
            .unwrap()
            .starts_with("resolution:")
    );
    let resolved = server
        .admin_json("/admin/v1/conflicts?status=resolved")
        .await;
    assert_eq!(resolved["conflicts"].as_array().unwrap().len(), 1);
    assert_eq!(resolved["conflicts"][0]["resolution"], "13900001111");
    // The phone hears the server's word: resolved.
    assert!(
        dev.worker
            .conflicts_page(false, None, 100)
            .unwrap()
            .items
            .is_empty()
    );
    assert_all_synced_once(&dev, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_added_and_moved_out_offline_sync_once_and_are_found_by_name_and_digits() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    let (household, people) = a_family(&dev.worker);
    let groups = dev.worker.key_groups().unwrap();
    assert!(groups.iter().any(|g| g.code == "veteran"), "{groups:?}");

    let added = dev
        .worker
        .add_resident(
            &NewResident {
                household_id: household.clone(),
                name: "欧阳明月".into(),
                id_number: format!("23030219900307123{}", check("23030219900307123")),
                phone: Some("15945678901".into()),
                relation: Relation::Child,
                tags: vec!["disability".into()],
                notes: String::new(),
            },
            None,
        )
        .unwrap();
    assert_eq!(added.version, 0);
    dev.worker
        .set_resident_status(&people[1].id, ResidentStatus::MovedOut, None)
        .unwrap();
    dev.worker
        .update_household(
            &household,
            HouseholdUpdate {
                occupancy: Some(gridworker_core::model::residents::Occupancy::Tenant),
                ..Default::default()
            },
            None,
        )
        .unwrap();

    // Found offline by name (2+ characters), by the last digits of the phone or ID number.
    for q in ["欧阳", "欧阳明月", "8901", &added.id_number.clone()[14..]] {
        let hits = dev.worker.search_households(q, None, 20).unwrap().items;
        assert!(
            hits.iter().any(|h| h.household.id == household),
            "query {q} found {}",
            hits.len()
        );
    }
    let disabled = dev
        .worker
        .key_group_households("disability", None, 1000)
        .unwrap()
        .items;
    assert!(disabled.iter().any(|h| h.household.id == household));

    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed, 3, "{r:?}");
    assert_all_synced_once(&dev, &server).await;
    let s = server
        .admin_json(&format!("/admin/v1/residents/{}", added.id))
        .await;
    assert_eq!(s["resident"]["version"], 1);
    assert_eq!(s["sex"], "male");
    assert_eq!(s["birth_date"], "1990-03-07");
    let moved = server
        .admin_json(&format!("/admin/v1/residents/{}", people[1].id))
        .await;
    assert_eq!(moved["resident"]["status"], "moved_out");
    // After the pull the phone holds the server's versions and still finds the resident.
    let view = dev.worker.resident_unmasked(&added.id).unwrap();
    assert_eq!(view.version, 1);
    assert_eq!(
        dev.worker
            .household_detail(&household)
            .unwrap()
            .profile
            .occupancy,
        Some(gridworker_core::model::residents::Occupancy::Tenant)
    );
    let again = engine.sync().await.unwrap();
    assert_eq!(again.pushed, 0);
}

fn check(first17: &str) -> String {
    let b: [u8; 17] = first17.as_bytes().try_into().unwrap();
    char::from(gridworker_core::model::residents::idcard::check_char(&b)).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_typed_error_naming_the_field_and_changes_nothing() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    let (household, people) = a_family(&dev.worker);
    let before = outbox_len(&dev);
    let detail_before = dev.worker.household_detail(&household).unwrap();
    let good = format!("23030219900307123{}", check("23030219900307123"));
    let bad_check = format!(
        "23030219900307123{}",
        if check("23030219900307123") == "0" {
            "1"
        } else {
            "0"
        }
    );
    let new = |id: &str, phone: Option<&str>, tags: Vec<&str>| NewResident {
        household_id: household.clone(),
        name: "张三".into(),
        id_number: id.into(),
        phone: phone.map(str::to_string),
        relation: Relation::Other,
        tags: tags.into_iter().map(str::to_string).collect(),
        notes: String::new(),
    };
    for (input, field) in [
        (new(&bad_check, None, vec![]), "id_number"),
        (new("230302199002301231", None, vec![]), "id_number"),
        (new(&good, Some("12345"), vec![]), "phone"),
        (new(&good, None, vec!["vip"]), "tags"),
    ] {
        match dev.worker.add_resident(&input, None) {
            Err(Error::InvalidInput { field: f, reason }) => {
                assert_eq!(f, field);
                assert!(!reason.contains(&good[..10]), "{reason}");
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    let unknown = dev.worker.add_resident(
        &NewResident {
            household_id: "h-nope".into(),
            ..new(&good, None, vec![])
        },
        None,
    );
    assert!(matches!(
        unknown,
        Err(Error::NotFound {
            kind: gridworker_core::NotFoundKind::Household,
            ..
        })
    ));
    let bad_visit = dev
        .worker
        .add_resident(&new(&good, None, vec![]), Some("v-nope"));
    assert!(matches!(
        bad_visit,
        Err(Error::NotFound {
            kind: gridworker_core::NotFoundKind::Visit,
            ..
        })
    ));
    let e = dev.worker.update_resident(
        &people[0].id,
        ResidentUpdate {
            phone: Some("not a phone".into()),
            name: Some("李四".into()),
            ..Default::default()
        },
        None,
    );
    assert!(
        matches!(&e, Err(Error::InvalidInput { field, .. }) if field == "fields.phone"),
        "{e:?}"
    );
    let e = dev
        .worker
        .update_resident(&people[0].id, ResidentUpdate::default(), None);
    assert!(matches!(e, Err(Error::InvalidInput { .. })), "{e:?}");
    assert!(dev.worker.search_households("", None, 10).is_err());
    assert_eq!(outbox_len(&dev), before, "nothing recorded");
    assert_eq!(
        dev.worker.household_detail(&household).unwrap(),
        detail_before,
        "nothing changed"
    );
    // An edit that changes nothing records nothing.
    let same = dev.worker.resident_unmasked(&people[0].id).unwrap();
    dev.worker
        .update_resident(
            &people[0].id,
            ResidentUpdate {
                name: Some(same.name.clone()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    assert_eq!(outbox_len(&dev), before);
}

/// A pull that arrives while edits wait to be sent (the push failed or was deferred) shows
/// the server's new values with the phone's pending edits laid over them, and the search
/// index follows once the pull's last page is in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_never_hides_an_edit_waiting_to_be_sent() {
    use gridworker_core::model::residents::Resident;
    use gridworker_core::sync::apply::apply_page;
    use gridworker_core::sync::wire::{Change, PullResponse};

    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    let (household, people) = a_family(&dev.worker);
    let r = dev.worker.resident_unmasked(&people[0].id).unwrap();
    dev.worker
        .update_resident(
            &r.id,
            ResidentUpdate {
                phone: Some("13911112222".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    // The server's next version (the back office renamed the resident), pulled before the
    // edit was sent, in two pages.
    let server_copy = Resident {
        id: r.id.clone(),
        household_id: household.clone(),
        name: "新名字".into(),
        id_number: r.id_number.clone(),
        phone: r.phone.clone(),
        relation: r.relation,
        tags: r.tags.clone(),
        status: r.status,
        notes: r.notes.clone(),
        version: r.version + 1,
    };
    let page = |changes, has_more| PullResponse {
        changes,
        next_cursor: "0".into(),
        has_more,
    };
    apply_page(
        &dev.worker,
        page(
            vec![Change::ResidentUpsert {
                resident: server_copy,
            }],
            true,
        ),
    )
    .unwrap();
    let shown = dev.worker.resident_unmasked(&r.id).unwrap();
    assert_eq!(shown.name, "新名字", "the server's change shows");
    assert_eq!(
        shown.phone.as_deref(),
        Some("13911112222"),
        "the pending edit stays"
    );
    assert_eq!(shown.version, r.version + 1);
    apply_page(&dev.worker, page(vec![], false)).unwrap();
    let hits = dev
        .worker
        .search_households("新名字", None, 10)
        .unwrap()
        .items;
    assert!(hits.iter().any(|h| h.household.id == household));
    // The edit goes out on the next sync, made on the version it was made on.
    let report = engine.sync().await.unwrap();
    assert_eq!(report.pushed, 1, "{report:?}");
    let on_server = server
        .admin_json(&format!("/admin/v1/residents/{}", r.id))
        .await;
    assert_eq!(on_server["resident"]["phone"], "13911112222");
}
