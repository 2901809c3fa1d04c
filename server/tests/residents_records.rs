//! Residents and households as records: ids that must not be reused, history that must not
//! be rewritten, what each grid's feed carries, the formats the admin API takes.

mod common;

use chrono::Utc;
use common::*;
use gridworker_core::model::residents::{FieldUpdatePayload, Relation, ResidentAddPayload};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn resident(base: &str, id: &str) -> Value {
    let (s, v) = admin_get(base, &format!("/admin/v1/residents/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

fn update(
    dev: &str,
    worker: &str,
    target: &str,
    field: &str,
    prev: Value,
    mine: Value,
) -> FieldUpdatePayload {
    FieldUpdatePayload {
        id: uuid::Uuid::now_v7().to_string(),
        worker_id: worker.into(),
        device_id: dev.into(),
        target_id: target.into(),
        base_version: 1,
        fields: [(field.to_string(), mine)].into(),
        previous: [(field.to_string(), prev)].into(),
        visit_id: None,
        recorded_at: Utc::now(),
    }
}

/// A phone's `resident_add` whose id is an existing resident's (seeded, or registered by
/// the back office: ids outside the `mutations` table) is refused (`record_id_reused`, as
/// the admin API's registration): it replaced that resident (another household, other name
/// and ID number, version back to 1).
#[tokio::test]
async fn resident_add_with_an_existing_residents_id_does_not_replace_that_resident() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let before = resident(&base, "r-0000006").await;
    assert_eq!(before["resident"]["household_id"], "h-000002");

    let mut dev = Device::new("dev-add", W1);
    let c = Client::new(&base, T1, "dev-add");
    let add = ResidentAddPayload {
        id: "r-0000006".into(),
        worker_id: W1.into(),
        device_id: "dev-add".into(),
        household_id: "h-000001".into(),
        visit_id: None,
        name: "张三".into(),
        id_number: "11010519491231002X".into(),
        phone: None,
        relation: Relation::Tenant,
        tags: vec![],
        notes: String::new(),
        recorded_at: Utc::now(),
    };
    let m = dev.mutation(
        "resident_add",
        "r-0000006",
        serde_json::to_string(&add).unwrap(),
    );
    let r = c.push(&[m]).await;
    assert_eq!(
        (status_of(&r, 0), reason_of(&r, 0)),
        ("rejected".to_string(), "record_id_reused".to_string())
    );

    let after = resident(&base, "r-0000006").await;
    assert_eq!(
        (
            &after["resident"]["household_id"],
            &after["resident"]["name"],
            &after["resident"]["id_number"],
            &after["resident"]["version"],
        ),
        (
            &before["resident"]["household_id"],
            &before["resident"]["name"],
            &before["resident"]["id_number"],
            &before["resident"]["version"],
        ),
        "an existing resident was overwritten by a phone's resident_add"
    );
}

/// A household removed and put back (same id, same grid): its residents, kept on record by
/// the delete, come back to the grid's phones (the feed kept only their `resident_delete`).
#[tokio::test]
async fn a_household_put_back_brings_its_residents_back_to_the_grids_phones() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let (s, _) = admin_send(
        &base,
        Method::DELETE,
        "/admin/v1/households/h-000002",
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = admin_send(
        &base,
        Method::PUT,
        "/admin/v1/households/h-000002",
        json!({"grid_code": "g-0001", "building": "红旗社区1号楼",
               "address": "鸡冠区 向阳街道 红旗社区 1号楼 1单元 102", "crs": "gcj02",
               "lat": 45.2986328, "lon": 130.9502712, "tags": ["elderly_alone"]}),
    )
    .await;
    assert!(s.is_success(), "{s} {v}");
    let again = resident(&base, "r-0000006").await;
    assert_eq!(
        again["grid_code"], "g-0001",
        "the admin API shows the resident in the grid"
    );

    // A phone of the grid pulling from scratch.
    let c = Client::new(&base, T1, "dev-fresh");
    let (ch, _) = c.pull_all(None, 5000).await;
    let about: Vec<&str> = ch
        .iter()
        .filter(|c| c["id"] == "r-0000006" || c["resident"]["id"] == "r-0000006")
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        about,
        vec!["resident_upsert"],
        "the resident of the household put back never reaches the grid's phones"
    );
}

/// The same household put back goes on from its history's versions: started at version 1
/// again, its next edits wrote history rows under versions already used and overwrote the
/// earlier ones, so stored changes vanished from the history.
#[tokio::test]
async fn a_household_put_back_keeps_the_history_of_its_earlier_changes() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let patch = |notes: &'static str| {
        let base = base.clone();
        async move {
            let (s, v) = admin_send(
                &base,
                Method::PATCH,
                "/admin/v1/households/h-000002",
                json!({ "notes": notes }),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v
        }
    };
    patch("第一次走访：独居").await;
    let (s, _) = admin_send(
        &base,
        Method::DELETE,
        "/admin/v1/households/h-000002",
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = admin_send(
        &base,
        Method::PUT,
        "/admin/v1/households/h-000002",
        json!({"grid_code": "g-0001", "building": "红旗社区1号楼",
               "address": "鸡冠区 向阳街道 红旗社区 1号楼 1单元 102", "crs": "gcj02",
               "lat": 45.2986328, "lon": 130.9502712, "tags": []}),
    )
    .await;
    assert!(s.is_success(), "{s} {v}");
    let v = patch("第二次走访").await;
    let notes: Vec<&Value> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["field"] == "notes")
        .map(|h| &h["new"])
        .collect();
    assert!(
        notes.contains(&&json!("第一次走访：独居")),
        "the first stored change of notes is gone from the history: {notes:?}"
    );
}

/// A household moved to another grid takes its conflicts along (re-issued in the new
/// grid's feed) and out of the old grid's feed: a phone of the old grid pulling from
/// scratch received them, values and all (base, mine, theirs: the resident's phone
/// numbers), for a household no longer in its grids.
#[tokio::test]
async fn a_conflict_leaves_the_old_grids_feed_when_its_household_moves() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let (s, v) = admin_send(
        &base,
        Method::PATCH,
        "/admin/v1/residents/r-0000006",
        json!({"phone": "15845678901"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut dev = Device::new("dev-c", W1);
    let c = Client::new(&base, T1, "dev-c");
    let u = update(
        "dev-c",
        W1,
        "r-0000006",
        "phone",
        json!("17662500281"),
        json!("13912345678"),
    );
    let m = dev.mutation("resident_update", &u.id, serde_json::to_string(&u).unwrap());
    c.push(&[m]).await;
    let (s, v) = admin_get(&base, "/admin/v1/conflicts").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["conflicts"].as_array().unwrap().len(), 1, "{v}");

    // The household moves to grid g-0002.
    let (s, v) = admin_send(
        &base,
        Method::PUT,
        "/admin/v1/households/h-000002",
        json!({"grid_code": "g-0002", "building": "红旗社区1号楼",
               "address": "鸡冠区 向阳街道 红旗社区 1号楼 1单元 102", "crs": "gcj02",
               "lat": 45.2986328, "lon": 130.9502712, "tags": ["elderly_alone"]}),
    )
    .await;
    assert!(s.is_success(), "{s} {v}");

    // A phone of g-0001 (W1) set up from scratch after the move.
    let fresh = Client::new(&base, T1, "dev-fresh-g1");
    let (ch, _) = fresh.pull_all(None, 5000).await;
    let leaked: Vec<&Value> = ch
        .iter()
        .filter(|c| c["type"] == "conflict_upsert" && c["conflict"]["household_id"] == "h-000002")
        .collect();
    assert!(
        leaked.is_empty(),
        "grid g-0001's feed still carries the moved household's conflict: {leaked:?}"
    );
    // ...while the phones of g-0002 have it.
    let other = Client::new(&base, T2, "dev-fresh-g2");
    let (ch2, _) = other.pull_all(None, 5000).await;
    assert!(ch2.iter().any(|c| c["type"] == "conflict_upsert"));
}

/// Landline area codes: `010` and `02X` are the only 3-digit ones and no other starts with
/// `01` (§4.7), so `011-2345678` and `0192345678` are refused (they were stored, any `01X`
/// taken as a 3-digit code).
#[tokio::test]
async fn admin_patch_refuses_a_landline_with_a_three_digit_01x_area_code_other_than_010() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    for bad in ["011-2345678", "0192345678"] {
        let (s, v) = admin_send(
            &base,
            Method::PATCH,
            "/admin/v1/residents/r-0000006",
            json!({ "phone": bad }),
        )
        .await;
        assert_eq!(
            s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad} accepted, stored as {}",
            v["resident"]["phone"]
        );
    }
}

/// A tags edit whose merge is the stored list stores nothing (base `[disability]`, the back
/// office's `[veteran]`, the phone's `[disability, veteran]`: the back office removed
/// `disability`, the phone added `veteran`, merged `[veteran]`). The phone shows its own
/// list until the server's copy comes back, so the resident goes in the feed again (nothing
/// came, and the phone kept `[disability, veteran]`).
#[tokio::test]
async fn a_tags_edit_merged_into_the_stored_list_sends_the_resident_again() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    for tags in [json!(["disability"]), json!(["veteran"])] {
        let (s, v) = admin_send(
            &base,
            Method::PATCH,
            "/admin/v1/residents/r-0000006",
            json!({ "tags": tags }),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let c = Client::new(&base, T1, "dev-tags");
    let (_, cursor) = c.pull_all(None, 5000).await;
    let mut dev = Device::new("dev-tags", W1);
    let u = update(
        "dev-tags",
        W1,
        "r-0000006",
        "tags",
        json!(["disability"]),
        json!(["disability", "veteran"]),
    );
    let m = dev.mutation("resident_update", &u.id, serde_json::to_string(&u).unwrap());
    let r = c.push(&[m]).await;
    assert_eq!(status_of(&r, 0), "applied");
    assert_eq!(
        resident(&base, "r-0000006").await["resident"]["tags"],
        json!(["veteran"])
    );
    let (changes, _) = c.pull_all(Some(cursor), 5000).await;
    let again: Vec<&Value> = changes
        .iter()
        .filter(|c| c["type"] == "resident_upsert" && c["resident"]["id"] == "r-0000006")
        .collect();
    assert_eq!(again.len(), 1, "{changes:?}");
    assert_eq!(again[0]["resident"]["tags"], json!(["veteran"]));
}

/// A valid ID number of a holder born on `day`.
fn born(day: chrono::NaiveDate) -> String {
    let first17 = format!("230302{}001", day.format("%Y%m%d"));
    let b: [u8; 17] = first17.as_bytes().try_into().unwrap();
    format!(
        "{first17}{}",
        char::from(gridworker_core::model::residents::idcard::check_char(&b))
    )
}

fn added(dev: &str, id: &str, id_number: &str) -> ResidentAddPayload {
    ResidentAddPayload {
        id: id.into(),
        worker_id: W1.into(),
        device_id: dev.into(),
        household_id: "h-000001".into(),
        visit_id: None,
        name: "张三".into(),
        id_number: id_number.into(),
        phone: None,
        relation: Relation::Tenant,
        tags: vec![],
        notes: String::new(),
        recorded_at: Utc::now(),
    }
}

/// Pushes one resident mutation from a fresh device; its status and reason, and the whole
/// reply as text.
async fn push_one(
    base: &str,
    dev: &str,
    kind: &str,
    id: &str,
    payload: String,
) -> (String, String, String) {
    let mut d = Device::new(dev, W1);
    let c = Client::new(base, T1, dev);
    let r = c.push(&[d.mutation(kind, id, payload)]).await;
    let text = serde_json::to_string(&r.results).unwrap();
    (status_of(&r, 0), reason_of(&r, 0), text)
}

async fn admin_resident(base: &str, method: Method, id: &str, body: Value) -> (StatusCode, Value) {
    admin_send(base, method, &format!("/admin/v1/residents/{id}"), body).await
}

/// A phone's new resident `id` holding `number`, pushed alone from `dev`: its answer.
async fn push_add(base: &str, dev: &str, id: &str, number: &str) -> (String, String, String) {
    let add = added(dev, id, number);
    push_one(
        base,
        dev,
        "resident_add",
        id,
        serde_json::to_string(&add).unwrap(),
    )
    .await
}

/// A phone's edit of r-0000006's ID number from `previous` to `number`: its answer.
async fn push_id_edit(
    base: &str,
    dev: &str,
    previous: Value,
    number: Value,
) -> (String, String, String) {
    let u = update(dev, W1, "r-0000006", "id_number", previous, number);
    push_one(
        base,
        dev,
        "resident_update",
        &u.id,
        serde_json::to_string(&u).unwrap(),
    )
    .await
}

/// Refused for good as an invalid payload, naming the field and never the number.
fn refused_by_field((status, reason, text): (String, String, String), number: &str) {
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("rejected", "invalid_payload"),
        "{text}"
    );
    assert!(
        text.contains("id_number") && !text.contains(number),
        "{text}"
    );
}

/// An ID number whose holder is born after today (two days after UTC's: after the server's
/// day in any zone) is refused from a phone (`invalid_payload`, on an add and on an edit)
/// and from the back office (422), by field and never by value; one born today is taken.
#[tokio::test]
async fn an_id_number_born_after_today_is_refused_from_phones_and_the_back_office() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let today = Utc::now().date_naive();
    let unborn = born(today + chrono::Days::new(2));
    let stored = resident(&base, "r-0000006").await["resident"]["id_number"].clone();

    refused_by_field(
        push_add(&base, "dev-unborn-add", "r-unborn", &unborn).await,
        &unborn,
    );
    let (s, _) = admin_get(&base, "/admin/v1/residents/r-unborn").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    refused_by_field(
        push_id_edit(&base, "dev-unborn-edit", stored.clone(), json!(unborn)).await,
        &unborn,
    );

    let (s, v) = admin_resident(
        &base,
        Method::PATCH,
        "r-0000006",
        json!({ "id_number": unborn }),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(!v.to_string().contains(&unborn), "{v}");
    let (s, v) = admin_resident(
        &base,
        Method::PUT,
        "r-unborn-office",
        json!({"household_id": "h-000001", "name": "李四", "id_number": unborn, "relation": "tenant"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(!v.to_string().contains(&unborn), "{v}");
    assert_eq!(
        resident(&base, "r-0000006").await["resident"]["id_number"],
        stored
    );

    // Born today (UTC's day, never after the server's) is a newborn, not a mistake.
    let newborn = born(today);
    let (status, _, text) = push_add(&base, "dev-newborn", "r-newborn", &newborn).await;
    assert_eq!(status, "applied", "{text}");
    let (s, v) = admin_resident(
        &base,
        Method::PATCH,
        "r-0000006",
        json!({ "id_number": newborn }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// Whitespace around an ID number (a paste, a phone keyboard, an IME's full-width space) is
/// dropped alike on an add and on an edit, from a phone and from the back office: the
/// trimmed number is stored. Both were refused.
#[tokio::test]
async fn an_id_number_with_whitespace_around_it_is_stored_trimmed_on_add_and_edit() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let stored = resident(&base, "r-0000006").await["resident"]["id_number"].clone();

    let n = born(day(1990, 3, 7));
    let (status, _, text) = push_add(&base, "dev-trim-add", "r-trim", &format!(" {n} ")).await;
    assert_eq!(status, "applied", "{text}");
    assert_eq!(
        resident(&base, "r-trim").await["resident"]["id_number"],
        json!(n)
    );

    let n = born(day(1980, 2, 2));
    let (status, _, text) =
        push_id_edit(&base, "dev-trim-edit", stored, json!(format!("\t{n} "))).await;
    assert_eq!(status, "applied", "{text}");
    assert_eq!(
        resident(&base, "r-0000006").await["resident"]["id_number"],
        json!(n)
    );

    let n = born(day(1970, 3, 3));
    let (s, v) = admin_resident(
        &base,
        Method::PATCH,
        "r-0000006",
        json!({ "id_number": format!("\u{3000}{n}") }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["resident"]["id_number"], json!(n));

    let n = born(day(1960, 4, 4));
    let (s, v) = admin_resident(
        &base,
        Method::PUT,
        "r-trim-office",
        json!({"household_id": "h-000001", "name": "李四", "id_number": format!(" {n}"), "relation": "tenant"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["resident"]["id_number"], json!(n));
}

/// The back office settling a conflict on an ID number with a new value is held to the same
/// day as an edit: a number born after today is refused (422, by field, never by value) and
/// the conflict stays open; one born today settles it.
#[tokio::test]
async fn a_conflict_settled_with_an_id_number_born_after_today_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let stored = resident(&base, "r-0000006").await["resident"]["id_number"].clone();
    // The back office changes the number, then a phone that saw the old one changes it too.
    let (s, v) = admin_resident(
        &base,
        Method::PATCH,
        "r-0000006",
        json!({ "id_number": born(day(1980, 1, 1)) }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (status, _, text) =
        push_id_edit(&base, "dev-clash", stored, json!(born(day(1981, 1, 1)))).await;
    assert_eq!(status, "applied", "{text}");
    let (s, v) = admin_get(&base, "/admin/v1/conflicts?status=open").await;
    assert_eq!(s, StatusCode::OK);
    let open = v["conflicts"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{v}");
    let resolve = format!(
        "/admin/v1/conflicts/{}/resolve",
        open[0]["id"].as_str().unwrap()
    );

    let today = Utc::now().date_naive();
    let unborn = born(today + chrono::Days::new(2));
    let (s, v) = admin_send(
        &base,
        Method::POST,
        &resolve,
        json!({ "take": "value", "value": unborn }),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v.to_string().contains("value") && !v.to_string().contains(&unborn),
        "{v}"
    );
    let (_, v) = admin_get(&base, "/admin/v1/conflicts?status=open").await;
    assert_eq!(
        v["conflicts"].as_array().unwrap().len(),
        1,
        "still open: {v}"
    );

    let newborn = born(today);
    let (s, v) = admin_send(
        &base,
        Method::POST,
        &resolve,
        json!({ "take": "value", "value": newborn }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        resident(&base, "r-0000006").await["resident"]["id_number"],
        json!(newborn)
    );
}

/// Whitespace around a name (a paste, an IME's full-width space) is dropped alike on a
/// phone's add and edit and on the back office's edit and registration: the trimmed name is
/// stored, and an edit from the trimmed name is not taken for a clash. Edits kept the
/// spaces.
#[tokio::test]
async fn a_name_with_whitespace_around_it_is_stored_trimmed_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();

    let mut add = added("dev-name-add", "r-name", &born(day(1990, 3, 7)));
    add.name = " 王小明\u{3000}".into();
    let (status, _, text) = push_one(
        &base,
        "dev-name-add",
        "resident_add",
        "r-name",
        serde_json::to_string(&add).unwrap(),
    )
    .await;
    assert_eq!(status, "applied", "{text}");
    assert_eq!(
        resident(&base, "r-name").await["resident"]["name"],
        json!("王小明")
    );

    let name = resident(&base, "r-0000006").await["resident"]["name"].clone();
    let u = update(
        "dev-name-edit",
        W1,
        "r-0000006",
        "name",
        name,
        json!("\t李 四 "),
    );
    let (status, _, text) = push_one(
        &base,
        "dev-name-edit",
        "resident_update",
        &u.id,
        serde_json::to_string(&u).unwrap(),
    )
    .await;
    assert_eq!(status, "applied", "{text}");
    assert_eq!(
        resident(&base, "r-0000006").await["resident"]["name"],
        json!("李 四")
    );
    // A second phone's edit from the name as it saw it untrimmed is the same base.
    let u = update(
        "dev-name-edit2",
        W1,
        "r-0000006",
        "name",
        json!("李 四 "),
        json!("李四"),
    );
    let (status, _, text) = push_one(
        &base,
        "dev-name-edit2",
        "resident_update",
        &u.id,
        serde_json::to_string(&u).unwrap(),
    )
    .await;
    assert_eq!(status, "applied", "{text}");
    let (_, v) = admin_get(&base, "/admin/v1/conflicts?status=open").await;
    assert!(v["conflicts"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(
        resident(&base, "r-0000006").await["resident"]["name"],
        json!("李四")
    );

    let (s, v) = admin_resident(
        &base,
        Method::PATCH,
        "r-0000006",
        json!({ "name": "\u{3000}赵六" }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["resident"]["name"], json!("赵六"));
    let (s, v) = admin_resident(
        &base,
        Method::PUT,
        "r-name-office",
        json!({"household_id": "h-000001", "name": " 钱七 ", "id_number": born(day(1960, 4, 4)), "relation": "tenant"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["resident"]["name"], json!("钱七"));
}

/// A fixture district holding a resident born after today does not seed (the server does not
/// start, saying which resident and field, never the number) and leaves nothing behind: the
/// same data directory then seeds from the right district.
#[tokio::test]
async fn a_district_seeding_a_resident_born_after_today_is_refused_whole() {
    let fx = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(fixtures()).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), fx.path().join(f.file_name())).unwrap();
        }
    }
    let unborn = born(Utc::now().date_naive() + chrono::Days::new(2));
    let path = fx.path().join("residents.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["residents"][0]["id_number"] = json!(unborn);
    let first = v["residents"][0]["id"].as_str().unwrap().to_string();
    std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.fixtures_dir = Some(fx.path().to_path_buf());
    let e = match gridworker_server::serve(c).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a district with a resident born after today seeded"),
    };
    assert!(
        e.contains(&first) && e.contains("id_number") && !e.contains(&unborn),
        "{e}"
    );

    let srv = start(dir.path()).await;
    let base = srv.url();
    assert_eq!(
        resident(&base, &first).await["resident"]["id"],
        json!(first)
    );
}
