//! The CLI's key contract (issue 9): `--key-file` (32 raw bytes or 64 hex digits) or
//! `GRIDWORKER_KEY`; `init` with a key makes an encrypted store, without one a plain store
//! and a warning; a missing or wrong key exits 5 (`locked`) and changes nothing; `rekey`.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use support::{closed_port, fixtures, gw, gw_with_key_env, path_str};

const KEY_A: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const KEY_B: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
/// The first household's address in the small district (seeded reference data).
const ADDRESS: &str = "红旗社区 1号楼 1单元 101";
const NOTE: &str = "独居老人 低保 探访记录 cli-key-test";

fn init_args(home: &str) -> Vec<String> {
    [
        "--home",
        home,
        "init",
        "--server",
        &format!("http://127.0.0.1:{}", closed_port()),
        "--worker",
        "w-0001",
        "--device",
        "dev-test",
        "--allow-http",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Every file under `dir` with its bytes (to prove a refused command changed nothing).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// An encrypted home (key A through the environment), seeded, with one visit noting [`NOTE`].
fn encrypted_home() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let home = path_str(dir.path());
    let r = gw_with_key_env(&strs(&init_args(&home)), Some(KEY_A));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    let district = path_str(&fixtures().join("district-small"));
    let r = gw_with_key_env(
        &["--home", &home, "seed", "--district", &district],
        Some(KEY_A),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let households: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("district-small/households.json")).unwrap(),
    )
    .unwrap();
    let h = &households["households"][0];
    let (lat, lon) = (h["lat"].as_f64().unwrap(), h["lon"].as_f64().unwrap());
    let r = gw_with_key_env(
        &[
            "--home",
            &home,
            "visit",
            "--household",
            h["id"].as_str().unwrap(),
            "--note",
            NOTE,
            "--lat",
            &lat.to_string(),
            "--lon",
            &lon.to_string(),
            "--accuracy",
            "5",
            "--crs",
            "gcj02",
        ],
        Some(KEY_A),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    dir
}

#[test]
fn enc_cli_init_with_a_key_makes_an_encrypted_store_and_without_warns() {
    let dir = encrypted_home();
    let data = dir.path().join("data");
    for (path, bytes) in snapshot(&data) {
        assert!(!contains(&bytes, NOTE.as_bytes()), "{}", path.display());
        assert!(!contains(&bytes, ADDRESS.as_bytes()), "{}", path.display());
        assert!(!contains(&bytes, b"SQLite format 3"), "{}", path.display());
    }
    let r = gw_with_key_env(
        &["--home", &path_str(dir.path()), "--json", "status"],
        Some(KEY_A),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["encrypted"], true);

    let plain = tempfile::tempdir().unwrap();
    let r = gw(&strs(&init_args(&path_str(plain.path()))));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("warning") && r.stderr.contains("NOT encrypted"),
        "{}",
        r.stderr
    );
    let r = gw(&["--home", &path_str(plain.path()), "--json", "status"]);
    assert_eq!(r.json()["encrypted"], false);
}

#[test]
fn enc_cli_missing_or_wrong_key_exits_5_locked_and_changes_nothing() {
    let dir = encrypted_home();
    let home = path_str(dir.path());
    let before = snapshot(&dir.path().join("data"));
    let wrong_file = dir.path().join("wrong.key");
    std::fs::write(&wrong_file, [7u8; 32]).unwrap();
    let wrong_file = path_str(&wrong_file);
    let other_file = dir.path().join("other.key");
    std::fs::write(&other_file, [8u8; 32]).unwrap();
    let other_file = path_str(&other_file);
    let runs = [
        gw(&["--home", &home, "--json", "status"]),
        gw(&["--home", &home, "--json", "list", "visits"]),
        gw_with_key_env(&["--home", &home, "--json", "status"], Some(KEY_B)),
        gw(&["--home", &home, "--json", "--key-file", &wrong_file, "sync"]),
        gw(&["--home", &home, "--json", "recover"]),
        gw(&[
            "--home",
            &home,
            "--json",
            "--key-file",
            &wrong_file,
            "rekey",
            "--new-key-file",
            &other_file,
        ]),
    ];
    for r in &runs {
        r.assert_error(5, Some("locked"));
    }
    assert_eq!(snapshot(&dir.path().join("data")), before);
    assert!(
        !std::fs::read_dir(dir.path().join("data"))
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("damaged")),
        "a locked store is never moved aside"
    );
    // The right key still finds everything.
    let r = gw_with_key_env(&["--home", &home, "--json", "list", "visits"], Some(KEY_A));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.json()["visits"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.stdout
    );
}

#[test]
fn enc_cli_key_file_takes_raw_or_hex_and_refuses_anything_else() {
    let dir = encrypted_home();
    let home = path_str(dir.path());
    let raw = dir.path().join("raw.key");
    std::fs::write(&raw, hex::decode(KEY_A).unwrap()).unwrap();
    let hex_file = dir.path().join("hex.key");
    std::fs::write(&hex_file, format!("{KEY_A}\n")).unwrap();
    // As `xxd -p` writes it: 60 digits, then the last 4 on a line of their own.
    let wrapped = dir.path().join("wrapped.key");
    std::fs::write(&wrapped, format!("{}\n{}\n", &KEY_A[..60], &KEY_A[60..])).unwrap();
    for f in [&raw, &hex_file, &wrapped] {
        let r = gw(&["--home", &home, "--key-file", &path_str(f), "status"]);
        assert_eq!(r.code, 0, "{}: {}", f.display(), r.stderr);
    }
    // The flag wins over the environment.
    let r = gw_with_key_env(
        &["--home", &home, "--key-file", &path_str(&raw), "status"],
        Some(KEY_B),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    let bad = dir.path().join("bad.key");
    for content in [
        &b"short"[..],
        &[0u8; 31][..],
        &[b'g'; 64][..],
        &[0u8; 33][..],
    ] {
        std::fs::write(&bad, content).unwrap();
        let r = gw(&[
            "--home",
            &home,
            "--json",
            "--key-file",
            &path_str(&bad),
            "status",
        ]);
        r.assert_error(2, Some("invalid_input"));
        assert!(
            !r.stdout.contains("gggg"),
            "the key file's content is never echoed"
        );
    }
    let r = gw(&[
        "--home",
        &home,
        "--json",
        "--key-file",
        "/nonexistent/k",
        "status",
    ]);
    r.assert_error(2, Some("invalid_input"));
    let r = gw_with_key_env(&["--home", &home, "--json", "status"], Some("not-hex"));
    r.assert_error(2, Some("invalid_input"));
    assert!(!r.stdout.contains("not-hex"), "{}", r.stdout);
}

#[test]
fn enc_cli_rekey_moves_the_store_to_the_new_key_and_encrypts_a_plain_one() {
    let dir = encrypted_home();
    let home = path_str(dir.path());
    let new_file = dir.path().join("new.key");
    std::fs::write(&new_file, KEY_B).unwrap();
    let new_file = path_str(&new_file);
    let r = gw_with_key_env(
        &[
            "--home",
            &home,
            "--json",
            "rekey",
            "--new-key-file",
            &new_file,
        ],
        Some(KEY_A),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["was_encrypted"], true);
    gw_with_key_env(&["--home", &home, "--json", "status"], Some(KEY_A))
        .assert_error(5, Some("locked"));
    let r = gw_with_key_env(&["--home", &home, "--json", "list", "visits"], Some(KEY_B));
    assert_eq!(
        r.json()["visits"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.stdout
    );
    // The same key again is refused as input.
    gw_with_key_env(
        &[
            "--home",
            &home,
            "--json",
            "rekey",
            "--new-key-file",
            &new_file,
        ],
        Some(KEY_B),
    )
    .assert_error(2, Some("invalid_input"));

    // A plain store becomes encrypted.
    let plain = tempfile::tempdir().unwrap();
    let phome = path_str(plain.path());
    assert_eq!(gw(&strs(&init_args(&phome))).code, 0);
    let r = gw(&[
        "--home",
        &phome,
        "--json",
        "rekey",
        "--new-key-file",
        &new_file,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["was_encrypted"], false);
    gw(&["--home", &phome, "--json", "status"]).assert_error(5, Some("locked"));
    let r = gw_with_key_env(&["--home", &phome, "--json", "status"], Some(KEY_B));
    assert_eq!(r.json()["encrypted"], true, "{}", r.stdout);
}

/// A command of another process with the store open (here a `sync` stalled on a server that
/// never answers; on a phone, a background worker's process) keeps `rekey` and `wipe` out:
/// each is refused, naming another process, and changes nothing. Before, a rekey built the new
/// database from a snapshot and swapped it in under the other process, whose later writes
/// went to the old file and were lost. Once that process is gone, the rekey goes through.
#[test]
fn enc_cli_rekey_and_wipe_are_refused_while_another_process_has_the_store_open() {
    use std::io::Read;
    use std::process::{Command, Stdio};

    // A server that accepts and never answers: the sync holds the store open meanwhile.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (conn_tx, conn_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = s.set_read_timeout(Some(std::time::Duration::from_millis(200)));
            let _ = s.read(&mut buf);
            let _ = conn_tx.send(());
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let home = path_str(dir.path());
    let mut init = init_args(&home);
    init[4] = format!("http://127.0.0.1:{port}");
    let r = gw_with_key_env(&strs(&init), Some(KEY_A));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let district = path_str(&fixtures().join("district-small"));
    let r = gw_with_key_env(
        &["--home", &home, "seed", "--district", &district],
        Some(KEY_A),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    let mut sync = Command::new(env!("CARGO_BIN_EXE_gridworker"))
        .args(["--home", &home, "sync"])
        .env_remove("GRIDWORKER_HOME")
        .env("GRIDWORKER_KEY", KEY_A)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    conn_rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the sync reached the server");
    let before = snapshot(&dir.path().join("data"));

    let new_file = dir.path().join("new.key");
    std::fs::write(&new_file, KEY_B).unwrap();
    let new_file = path_str(&new_file);
    let rekey = [
        "--home",
        &home,
        "--json",
        "rekey",
        "--new-key-file",
        &new_file,
    ];
    let r = gw_with_key_env(&rekey, Some(KEY_A));
    r.assert_error(1, Some("internal"));
    assert!(r.stderr.contains("another process"), "{}", r.stderr);
    let r = gw_with_key_env(&["--home", &home, "--json", "wipe", "--yes"], Some(KEY_A));
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("another process"), "{}", r.stderr);
    assert_eq!(
        snapshot(&dir.path().join("data")),
        before,
        "nothing changed"
    );

    sync.kill().unwrap();
    sync.wait().unwrap();
    let r = gw_with_key_env(&rekey, Some(KEY_A));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = gw_with_key_env(&["--home", &home, "--json", "status"], Some(KEY_B));
    assert_eq!(r.code, 0, "{}", r.stderr);
}
