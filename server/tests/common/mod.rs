//! Helpers for the server tests: a seeded server on 127.0.0.1:0 and its admin API. The
//! scripted device and its HTTP client are the testkit's (`gridworker_testkit::scripted`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gridworker_server::{RunningServer, ServerConfig, serve};
use reqwest::{Method, StatusCode};
use serde_json::Value;

// Not every test binary that includes this module scripts a device.
#[allow(unused_imports)]
pub use gridworker_testkit::scripted::*;

pub const ADMIN: &str = "admin-secret";
pub const W1: &str = "w-0001";
pub const T1: &str = "tok-1";
pub const W2: &str = "w-0002";
pub const T2: &str = "tok-2";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/district-small")
}

pub fn config(data: &Path) -> ServerConfig {
    let mut c = ServerConfig::new(data)
        .fixtures(fixtures())
        .token(W1, T1)
        .token(W2, T2);
    c.admin_token = ADMIN.to_string();
    backend(&mut c);
    c
}

/// Puts the server on PostgreSQL when the conformance run asks for it
/// (`GRIDWORKER_TEST_BACKEND=postgres`); SQLite otherwise.
/// Photos go to an S3-compatible bucket when the run names one
/// (`GRIDWORKER_TEST_PHOTOS`); to the data directory otherwise.
pub fn backend(c: &mut ServerConfig) {
    if let Some(url) = gridworker_testkit::postgres::database_for(&c.data_dir) {
        c.database = gridworker_server::store::Database::Postgres(url);
    }
    if let Some(spec) = gridworker_testkit::s3::photos_spec() {
        c.photos = gridworker_server::blobs::PhotoStorage::parse(&spec).expect("a valid --photos");
    }
}

pub async fn start(data: &Path) -> RunningServer {
    serve(config(data)).await.expect("server starts")
}

pub async fn admin_get(base: &str, path: &str) -> (StatusCode, Value) {
    gridworker_testkit::admin::Admin::new(base, ADMIN)
        .get(path)
        .await
}

pub async fn admin_send(
    base: &str,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    gridworker_testkit::admin::Admin::new(base, ADMIN)
        .send(method, path, body)
        .await
}

pub async fn count(base: &str, kind: &str) -> i64 {
    let (s, v) = admin_get(base, "/admin/v1/records").await;
    assert_eq!(s, StatusCode::OK);
    v["counts"][kind].as_i64().expect("count")
}

/// A server with a changed configuration.
pub async fn start_with(data: &Path, change: impl FnOnce(&mut ServerConfig)) -> RunningServer {
    let mut c = config(data);
    change(&mut c);
    serve(c).await.expect("server starts")
}

/// The objects in a server's partial-upload area (parts, and on disk the staging files of
/// writes in progress), wherever its photos are kept.
pub async fn partial_objects(c: &ServerConfig) -> Vec<String> {
    gridworker_server::blobs::Blobs::open(&c.photos, &c.data_dir)
        .expect("the photo store opens")
        .list_partials()
        .await
        .expect("the partial area lists")
        .into_iter()
        .map(|(key, _)| key)
        .collect()
}

/// A complete photo's bytes through the admin API.
pub async fn admin_photo(base: &str, sha: &str) -> Vec<u8> {
    let r = reqwest::Client::new()
        .get(format!("{base}/admin/v1/photos/{sha}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
    r.bytes().await.expect("body").to_vec()
}

/// The whole admin count object.
pub async fn admin_counts(base: &str) -> Value {
    let (s, v) = admin_get(base, "/admin/v1/records").await;
    assert_eq!(s, StatusCode::OK);
    v
}

/// The server binary on `data`, a free loopback port, the test fixtures, both workers'
/// tokens and the admin token; callers add flags and start it with [`launch_binary`].
pub fn server_command(data: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gridworker-server"));
    cmd.arg("--data")
        .arg(data)
        .args(["--listen", "127.0.0.1:0", "--fixtures"])
        .arg(fixtures())
        .args([
            "--token",
            &format!("{W1}:{T1}"),
            "--token",
            &format!("{W2}:{T2}"),
        ])
        .args(["--admin-token", ADMIN, "--log", "warn"])
        .stderr(std::process::Stdio::null());
    cmd
}

/// A server process a test started: killed and reaped when dropped, so a test that ends,
/// or fails, leaves no server running (a dropped `Child` keeps running).
pub struct ServerChild(std::process::Child);

impl std::ops::Deref for ServerChild {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for ServerChild {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the `gridworker-server` binary built by `cmd` (its arguments given), with stdout
/// piped, and reads its `listening on URL` line: the child and its URL.
pub fn launch_binary(mut cmd: std::process::Command) -> (ServerChild, String) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("reads the first line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let child = ServerChild(child);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (child, url)
}
