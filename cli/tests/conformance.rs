//! `gridworker conformance` against the reference server on 127.0.0.1: every check passes
//! (the second worker, the admin token and the backup/restore/wipe commands enable them all),
//! twice in a row against the same server, and a server that breaks a rule fails its check
//! with exit 1.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gridworker_server::{ServerConfig, ServerHandle, spawn_in_thread};
use gridworker_testkit::dirs::{copy_dir, empty_dir};
use support::{fixtures, gw};

fn server(
    dir: &std::path::Path,
    change: impl FnOnce(&mut ServerConfig),
) -> gridworker_server::ServerHandle {
    let mut cfg = ServerConfig::new(dir)
        .fixtures(fixtures().join("district-small"))
        .token("w-0001", "tok-w1")
        .token("w-0002", "tok-w2");
    cfg.admin_token = "adm".into();
    change(&mut cfg);
    spawn_in_thread(cfg).unwrap()
}

/// The reference server run as a district's operator would: the conformance suite's
/// `--backup-command`, `--restore-command` and `--wipe-command` ask for an operation by
/// creating `NAME.req` in a control directory; a thread of the test stops the server, copies
/// its data directory and starts it again on the same port, then creates `NAME.done`.
struct Operated {
    url: String,
    ctl: tempfile::TempDir,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Operated {
    fn start(data: &Path, backup: &Path) -> Operated {
        let handle = server(data, |_| {});
        let url = handle.url();
        let mut cfg = ServerConfig::new(data)
            .fixtures(fixtures().join("district-small"))
            .token("w-0001", "tok-w1")
            .token("w-0002", "tok-w2");
        cfg.admin_token = "adm".into();
        cfg.listen = handle.addr();
        let ctl = tempfile::tempdir().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s, backup) = (ctl.path().to_path_buf(), stop.clone(), backup.to_path_buf());
        let thread = std::thread::spawn(move || operate(handle, cfg, &c, &backup, &s));
        Operated {
            url,
            ctl,
            stop,
            thread: Some(thread),
        }
    }

    /// The shell command that asks for `op` and waits (at most a minute) until it is done.
    fn command(&self, op: &str) -> String {
        let c = self.ctl.path().display();
        format!(
            "touch {c}/{op}.req; i=0; while [ ! -e {c}/{op}.done ]; do sleep 0.05; \
             i=$((i+1)); [ $i -lt 1200 ] || exit 1; done; rm {c}/{op}.done"
        )
    }
}

impl Drop for Operated {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn operate(first: ServerHandle, cfg: ServerConfig, ctl: &Path, backup: &Path, stop: &AtomicBool) {
    let mut running = Some(first);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
        for op in ["backup", "restore", "wipe"] {
            let req = ctl.join(format!("{op}.req"));
            if !req.exists() {
                continue;
            }
            if let Some(h) = running.take() {
                h.shutdown();
            }
            match op {
                "backup" => {
                    empty_dir(backup);
                    copy_dir(&cfg.data_dir, backup);
                }
                "restore" => {
                    empty_dir(&cfg.data_dir);
                    copy_dir(backup, &cfg.data_dir);
                }
                _ => empty_dir(&cfg.data_dir),
            }
            running = Some(start_again(&cfg));
            std::fs::remove_file(&req).unwrap();
            std::fs::write(ctl.join(format!("{op}.done")), b"").unwrap();
        }
    }
}

/// The old socket may linger a moment after the stop.
fn start_again(cfg: &ServerConfig) -> ServerHandle {
    for _ in 0..50 {
        if let Ok(h) = spawn_in_thread(cfg.clone()) {
            return h;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server did not start again");
}

#[test]
fn the_reference_server_passes_every_conformance_check_and_again() {
    let dir = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let srv = Operated::start(dir.path(), backup.path());
    let (b, r, w) = (
        srv.command("backup"),
        srv.command("restore"),
        srv.command("wipe"),
    );
    for round in 1..=2 {
        let r = gw(&[
            "--json",
            "conformance",
            "--server",
            &srv.url,
            "--token-for",
            "w-0001=tok-w1",
            "--token-for",
            "w-0002=tok-w2",
            "--admin-token",
            "adm",
            "--allow-http",
            "--backup-command",
            &b,
            "--restore-command",
            &r,
            "--wipe-command",
            &w,
        ]);
        assert_eq!(r.code, 0, "round {round}: {}\n{}", r.stdout, r.stderr);
        let v = r.json();
        assert_eq!(v["failed"], 0, "round {round}: {v}");
        assert_eq!(v["skipped"], 0, "round {round}: {v}");
        let checks = v["checks"].as_array().unwrap();
        assert!(checks.len() >= 14, "{v}");
        assert!(checks.iter().all(|c| c["result"] == "pass"), "{v}");
    }
}

#[test]
fn without_a_second_worker_the_task_check_is_skipped_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), |_| {});
    let r = gw(&[
        "conformance",
        "--server",
        &srv.url(),
        "--token-for",
        "w-0001=tok-w1",
        "--allow-http",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("task_not_assigned") && r.stdout.contains("skipped"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_server_that_breaks_the_protocol_fails_its_check_with_exit_1() {
    // A server whose minimum protocol is above ours answers 426 to everything.
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), |c| {
        c.min_protocol = gridworker_core::sync::wire::PROTOCOL + 1
    });
    let r = gw(&[
        "--json",
        "conformance",
        "--server",
        &srv.url(),
        "--token-for",
        "w-0001=tok-w1",
        "--allow-http",
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert!(v["failed"].as_u64().unwrap() >= 1, "{v}");
    let handshake = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "handshake")
        .unwrap();
    assert_eq!(handshake["result"], "fail", "{v}");
}

/// The restore and reset checks look at the server, not at the commands' exit codes: commands
/// that return 0 without restoring or wiping anything fail them, and a command that fails is
/// reported with its exit status.
#[test]
fn commands_that_restore_or_wipe_nothing_fail_their_checks() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), |_| {});
    let r = gw(&[
        "--json",
        "conformance",
        "--server",
        &srv.url(),
        "--token-for",
        "w-0001=tok-w1",
        "--admin-token",
        "adm",
        "--allow-http",
        "--backup-command",
        "true",
        "--restore-command",
        "true",
        "--wipe-command",
        "echo no such backup >&2; exit 3",
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    let result = |name: &str| {
        let c = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no {name} in {v}"));
        (
            c["result"].as_str().unwrap().to_string(),
            c["detail"].to_string(),
        )
    };
    let (restored, detail) = result("server_restore");
    assert_eq!(restored, "fail", "{detail}");
    assert!(detail.contains("device_last_seq"), "{detail}");
    let (expired, detail) = result("cursor_expiry");
    assert_eq!(expired, "fail", "{detail}");
    let (reset, detail) = result("server_reset");
    assert_eq!(reset, "fail", "{detail}");
    assert!(
        detail.contains("exit status: 3") && detail.contains("no such backup"),
        "{detail}"
    );
    assert_eq!(result("photo_cut").0, "pass");
}
