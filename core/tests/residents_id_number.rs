//! ID numbers typed on the phone: a birth date after the district's day (the injected
//! clock's) is refused, and whitespace around a number is dropped, alike when a resident is
//! added, edited or seeded. Names typed on the phone are trimmed alike.

mod support;

use chrono::{TimeZone, Utc};
use gridworker_core::model::residents::{Relation, Resident, ResidentStatus, Resolution, idcard};
use gridworker_core::sync::apply::apply_page;
use gridworker_core::sync::wire::PullResponse;
use gridworker_core::worker::{NewResident, ResidentUpdate};
use gridworker_core::{Error, GridWorker};
use serde_json::json;

/// A valid number of a holder born on `yyyymmdd`.
fn born(yyyymmdd: &str) -> String {
    let first17 = format!("230302{yyyymmdd}001");
    let b: [u8; 17] = first17.as_bytes().try_into().unwrap();
    format!("{first17}{}", char::from(idcard::check_char(&b)))
}

fn new(id_number: &str) -> NewResident {
    NewResident {
        household_id: "H11".into(),
        name: "张三".into(),
        id_number: id_number.into(),
        phone: None,
        relation: Relation::Other,
        tags: vec![],
        notes: String::new(),
    }
}

fn set_id_number(w: &GridWorker, resident: &str, n: &str) -> gridworker_core::Result<()> {
    w.update_resident(
        resident,
        ResidentUpdate {
            id_number: Some(n.into()),
            ..Default::default()
        },
        None,
    )
    .map(|_| ())
}

fn outbox_len(w: &GridWorker) -> i64 {
    w.test_store()
        .read(|c| Ok(c.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))?))
        .unwrap()
}

/// The refusal a bad ID number gets: invalid input naming `field`, never the number.
fn assert_refused(r: gridworker_core::Result<()>, field: &str, number: &str) {
    match r {
        Err(Error::InvalidInput { field: f, reason }) => {
            assert_eq!(f, field);
            assert!(!reason.contains(number) && !f.contains(number), "{reason}");
        }
        other => panic!("{field}: {other:?}"),
    }
}

#[test]
fn an_id_number_born_after_the_districts_today_is_refused_on_add_edit_and_resolution() {
    let env = support::Env::new();
    let w = &env.core;
    // 01:00 on 23 November in the district (UTC+8), still the 22nd in UTC.
    env.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 22, 17, 0, 0).unwrap());
    let tomorrow = born("20261124");
    let today = born("20261123");
    let before = outbox_len(w);

    assert_refused(
        w.add_resident(&new(&tomorrow), None).map(|_| ()),
        "id_number",
        &tomorrow,
    );
    assert_eq!(outbox_len(w), before, "nothing recorded");
    // Born today in the district is fine, whatever the UTC day.
    let newborn = w.add_resident(&new(&today), None).unwrap();
    assert_eq!(newborn.id_number, today);

    let adult = w.add_resident(&new(&born("19900307")), None).unwrap();
    let recorded = outbox_len(w);
    assert_refused(
        set_id_number(w, &adult.id, &tomorrow),
        "fields.id_number",
        &tomorrow,
    );
    assert_eq!(outbox_len(w), recorded, "nothing recorded");
    assert_eq!(
        w.resident_unmasked(&adult.id).unwrap().id_number,
        born("19900307")
    );
    set_id_number(w, &adult.id, &today).unwrap();

    // A new value chosen for a conflict on the ID number is a new value too.
    let page: PullResponse = serde_json::from_value(json!({
        "changes": [
            {"type": "resident_upsert", "resident": {
                "id": "r-1", "household_id": "H11", "name": "于秀珍",
                "id_number": born("19491231"), "phone": null, "relation": "head",
                "tags": [], "status": "living", "notes": "", "version": 2}},
            {"type": "conflict_upsert", "conflict": {
                "id": "c-1", "entity": "resident", "entity_id": "r-1", "household_id": "H11",
                "field": "id_number", "base": born("19491230"), "mine": born("19491231"),
                "theirs": born("19491229"), "mine_by": "w-0001",
                "mine_at": "2026-11-22T01:00:00Z", "theirs_by": "admin",
                "theirs_at": "2026-11-22T01:05:00Z", "status": "open", "resolution": null,
                "resolved_by": null, "resolved_at": null}}
        ],
        "next_cursor": "1",
        "has_more": false
    }))
    .unwrap();
    apply_page(w, page).unwrap();
    assert_refused(
        w.resolve_conflict("c-1", Resolution::Value, Some(json!(tomorrow)))
            .map(|_| ()),
        "value",
        &tomorrow,
    );
    assert!(!w.conflict("c-1").unwrap().resolving);
    w.resolve_conflict("c-1", Resolution::Value, Some(json!(today)))
        .unwrap();
}

#[test]
fn an_id_number_with_whitespace_around_it_is_taken_trimmed_on_add_and_on_edit() {
    let env = support::Env::new();
    let w = &env.core;
    let first = born("19990101");
    let added = w.add_resident(&new(&format!(" {first} ")), None).unwrap();
    assert_eq!(added.id_number, first);
    assert_eq!(w.resident_unmasked(&added.id).unwrap().id_number, first);

    // A paste's spaces, a tab, an IME's full-width space: as the add path takes them.
    for (typed, n) in [
        (format!(" {} ", born("19800202")), born("19800202")),
        (format!("\t{}\n", born("19700303")), born("19700303")),
        (format!("\u{3000}{}", born("19600404")), born("19600404")),
    ] {
        set_id_number(w, &added.id, &typed).unwrap_or_else(|e| panic!("{typed:?}: {e}"));
        assert_eq!(w.resident_unmasked(&added.id).unwrap().id_number, n);
    }
    // Whitespace inside a number is still a wrong character.
    assert_refused(
        set_id_number(w, &added.id, "230302 198002020010"),
        "fields.id_number",
        "198002020010",
    );
}

/// QA's seeding (`import_residents`, the CLI's `seed`) holds what an edit could not record
/// no more than an edit does: a holder born after the district's today is refused by field,
/// and nothing of the seed is stored.
#[test]
fn a_seeded_resident_born_after_the_districts_today_is_refused_and_nothing_is_seeded() {
    let env = support::Env::new();
    let w = &env.core;
    env.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 22, 17, 0, 0).unwrap());
    let person = |id: &str, n: String| Resident {
        id: id.into(),
        household_id: "H11".into(),
        name: "张三".into(),
        id_number: n,
        phone: None,
        relation: Relation::Other,
        tags: vec![],
        status: ResidentStatus::Living,
        notes: String::new(),
        version: 1,
    };
    let tomorrow = born("20261124");
    let r = w.import_residents(
        &[],
        &[
            person("r-seed-1", born("19900101")),
            person("r-seed-2", tomorrow.clone()),
        ],
        &[],
    );
    assert_refused(r, "fields.id_number", &tomorrow);
    assert!(w.household_detail("H11").unwrap().residents.is_empty());

    // Seeded as an edit stores it: the name trimmed (a newline around it, refused inside).
    let mut seeded = person("r-seed-3", born("20261123"));
    seeded.name = "王小明\n".into();
    w.import_residents(&[], &[seeded], &[]).unwrap();
    let shown = w.household_detail("H11").unwrap().residents;
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].name, "王小明");
}

/// A name edited on the phone with whitespace around it (a paste's tab, an IME's full-width
/// space) is recorded and shown trimmed, as an added one is; it kept the spaces.
#[test]
fn a_name_with_whitespace_around_it_is_taken_trimmed_on_edit() {
    let env = support::Env::new();
    let w = &env.core;
    let added = w.add_resident(&new(&born("19990101")), None).unwrap();
    let edited = w
        .update_resident(
            &added.id,
            ResidentUpdate {
                name: Some("\t王 小明\u{3000}".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    assert_eq!(edited.name, "王 小明");
    let sent: String = w
        .test_store()
        .read(|c| {
            Ok(c.query_row(
                "SELECT payload FROM outbox ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    let sent: serde_json::Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(sent["fields"]["name"], json!("王 小明"));
}
