//! ID numbers typed on the phone: whitespace around a number is dropped, alike when a
//! resident is added and when one is edited.

mod support;

use gridworker_core::model::residents::{Relation, idcard};
use gridworker_core::worker::{NewResident, ResidentUpdate};
use gridworker_core::{Error, GridWorker};

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
