//! The residents commands' contract (issue 12, item 7): `household search|show|building|
//! group`, `resident add|update`, `conflicts`, `conflict show|resolve`, with `--json` and exit
//! code 2 for invalid input (nothing written), on a home seeded offline from the fixtures.

mod support;

use support::{gw, path_str, seeded_home};

#[test]
fn search_show_masked_and_unmasked_add_update_and_refusals() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    let g = |args: &[&str]| {
        let mut all = vec!["--home", home.as_str(), "--json"];
        all.extend_from_slice(args);
        gw(&all)
    };

    let r = g(&["household", "show", "h-000002"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let shown = r.json();
    let first = &shown["residents"][0];
    let masked = first["id_number"].as_str().unwrap().to_string();
    assert!(masked.contains("********"), "{masked}");
    assert_eq!(first["masked"], true);
    let r = g(&["household", "show", "h-000002", "--unmasked"]);
    let full = r.json()["residents"][0]["id_number"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(full.len(), 18);
    assert_eq!(full[..6], masked[..6]);
    assert_eq!(full[14..], masked[14..]);
    let name = first["name"].as_str().unwrap().to_string();

    // Found by name and by the last four digits of the ID number.
    for q in [name.as_str(), &full[14..]] {
        let r = g(&["household", "search", q]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let ids: Vec<String> = r.json()["households"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect();
        assert!(ids.contains(&"h-000002".to_string()), "{q}: {ids:?}");
    }
    let r = g(&["household", "building", "红旗社区1号楼", "--limit", "5"]);
    assert_eq!(r.json()["households"].as_array().unwrap().len(), 5);
    assert!(r.json()["next"].is_string());
    let r = g(&["household", "group", "elderly_alone", "--limit", "100"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.json()["households"].as_array().unwrap().is_empty());

    // Invalid input: exit 2, the field named, the number never echoed, nothing written.
    let before = g(&["status"]).json();
    for (args, field) in [
        (
            vec![
                "resident",
                "add",
                "--household",
                "h-000002",
                "--name",
                "李四",
                "--id-number",
                "110105194912310021",
            ],
            "id_number",
        ),
        (
            vec![
                "resident",
                "add",
                "--household",
                "h-000002",
                "--name",
                "李四",
                "--id-number",
                "11010519491231002X",
                "--phone",
                "12345",
            ],
            "phone",
        ),
        (
            vec![
                "resident",
                "add",
                "--household",
                "h-000002",
                "--name",
                "李四",
                "--id-number",
                "11010519491231002X",
                "--tags",
                "vip",
            ],
            "tags",
        ),
        (
            vec![
                "resident",
                "add",
                "--household",
                "h-000002",
                "--name",
                "李四",
                "--id-number",
                "11010519491231002X",
                "--relation",
                "cousin",
            ],
            "relation",
        ),
        (
            vec!["resident", "update", "r-0000006", "--status", "gone"],
            "status",
        ),
        (vec!["resident", "update", "r-0000006"], "fields"),
    ] {
        let r = g(&args);
        r.assert_error(2, Some("invalid_input"));
        assert!(r.stderr.contains(field), "{field}: {}", r.stderr);
        assert!(!r.stderr.contains("110105194912"), "{}", r.stderr);
    }
    g(&["resident", "update", "r-nope", "--status", "moved_out"])
        .assert_error(2, Some("not_found"));
    g(&["conflict", "resolve", "c-nope", "--take", "mine"]).assert_error(2, Some("not_found"));
    g(&["conflict", "resolve", "c-nope"]).assert_error(2, Some("invalid_input"));
    assert_eq!(g(&["status"]).json(), before, "nothing was written");

    // Good input is recorded and pending.
    let r = g(&[
        "resident",
        "add",
        "--household",
        "h-000002",
        "--name",
        "李四",
        "--id-number",
        "11010519491231002x",
        "--phone",
        "139 1234 5678",
        "--relation",
        "child",
        "--tags",
        "veteran",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let added = r.json();
    assert_eq!(added["id_number"], "11010519491231002X");
    assert_eq!(added["phone"], "13912345678");
    assert_eq!(added["sex"], "female");
    let r = g(&[
        "resident",
        "update",
        "r-0000006",
        "--status",
        "moved_out",
        "--phone",
        "",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["status"], "moved_out");
    assert_eq!(r.json()["phone"], serde_json::Value::Null);
    let r = g(&["conflicts"]);
    assert_eq!(r.json()["conflicts"], serde_json::json!([]));
    let shown = g(&["household", "show", "h-000002"]).json();
    assert_eq!(shown["residents"].as_array().unwrap().len(), 2);
}
