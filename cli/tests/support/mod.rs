//! Running the built `gridworker` binary in tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The workspace's fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fixtures")
}

/// What one run printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as JSON (panics with the output if it is not: a test failure).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts the documented error shape: one stderr line, exit `code`, and with --json the
    /// error object of `kind` on stdout.
    pub fn assert_error(&self, code: i32, kind: Option<&str>) {
        assert_eq!(
            self.code, code,
            "exit code; stdout: {} stderr: {}",
            self.stdout, self.stderr
        );
        assert_eq!(
            self.stderr.trim_end().lines().count(),
            1,
            "stderr must be one line: {:?}",
            self.stderr
        );
        if let Some(kind) = kind {
            let j = self.json();
            assert_eq!(j["error"]["kind"], kind, "{}", self.stdout);
            assert!(
                j["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `gridworker` with `args` (GRIDWORKER_HOME and GRIDWORKER_KEY cleared, so --home and
/// the key are explicit).
pub fn gw(args: &[&str]) -> Run {
    gw_with_key_env(args, None)
}

/// Runs `gridworker` with `args` and `GRIDWORKER_KEY` set to `key_hex` (cleared on `None`).
pub fn gw_with_key_env(args: &[&str], key_hex: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gridworker"));
    cmd.args(args)
        .env_remove("GRIDWORKER_HOME")
        .env_remove("GRIDWORKER_KEY");
    if let Some(k) = key_hex {
        cmd.env("GRIDWORKER_KEY", k);
    }
    cmd.output()
        .map(Run::from)
        .unwrap_or_else(|e| panic!("running gridworker: {e}"))
}

/// A device home initialised for `worker` against a closed loopback port, seeded with the
/// small district.
pub fn seeded_home(worker: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let home = dir.path().to_str().unwrap_or_default().to_string();
    let r = gw(&[
        "--home",
        &home,
        "init",
        "--server",
        &format!("http://127.0.0.1:{}", closed_port()),
        "--worker",
        worker,
        "--device",
        "dev-test",
        "--allow-http",
    ]);
    assert_eq!(r.code, 0, "init: {}", r.stderr);
    let district = fixtures().join("district-small");
    let r = gw(&[
        "--home",
        &home,
        "seed",
        "--district",
        district.to_str().unwrap_or_default(),
    ]);
    assert_eq!(r.code, 0, "seed: {}", r.stderr);
    dir
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    l.local_addr().map(|a| a.port()).unwrap_or(9)
}

pub fn path_str(p: &Path) -> String {
    p.to_str().unwrap_or_default().to_string()
}
