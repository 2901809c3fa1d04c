//! Defect 5 (reliability issue #8): idle, half-sent and stalled connections against the real
//! `gridworker-server` binary on 127.0.0.1, with shortened timeouts. The server stays
//! reachable, closes them within its timeouts and its memory stays bounded.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use gridworker_core::sync::wire;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT_S: u64 = 2;
const MAX_CONNECTIONS: usize = 200;
const PER_KIND: usize = 100;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn launch(data: &std::path::Path) -> (Server, String) {
    let t = TIMEOUT_S.to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridworker-server"))
        .arg("--data")
        .arg(data)
        .args(["--listen", "127.0.0.1:0", "--fixtures"])
        .arg(fixtures())
        .args(["--token", "w-0001:tok-1", "--admin-token", ADMIN])
        .args([
            "--header-timeout",
            &t,
            "--idle-timeout",
            &t,
            "--body-timeout",
            &t,
        ])
        .args(["--max-connections", &MAX_CONNECTIONS.to_string()])
        .args(["--max-buffered-requests", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let url = line.trim().trim_start_matches("listening on ").to_string();
    (Server(child), url)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Waits until the server closes `s`; returns how long that took.
async fn closed_after(mut s: TcpStream, since: Instant) -> Option<Duration> {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(25), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(since.elapsed()),
            // A reply (408/503/400) before the close: keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect5_idle_half_sent_and_stalled_connections_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (server, url) = launch(dir.path());
    let pid = server.0.id();
    let addr = url.trim_start_matches("http://").to_string();
    let normal = Client::new(&url, T1, "dev-normal");
    let (s, _) = normal.get_json(wire::PATH_HANDSHAKE).await;
    assert_eq!(s, StatusCode::OK);
    let baseline = rss_kib(pid);

    let peak = Arc::new(AtomicU64::new(baseline));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..PER_KIND * 3 {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.expect("connects");
            match i % 3 {
                // Idle: connects and says nothing.
                0 => {}
                // Half-sent headers.
                1 => {
                    let _ = s
                        .write_all(
                            b"GET /v1/handshake HTTP/1.1\r\nHost: x\r\nGridworker-Protocol: 1\r\n",
                        )
                        .await;
                }
                // An authenticated push that sends most of 4 MiB and stalls.
                _ => {
                    let head = format!(
                        "POST /v1/push HTTP/1.1\r\nHost: x\r\nGridworker-Protocol: 1\r\n\
                         Authorization: Bearer {T1}\r\nGridworker-Device: dev-s{i}\r\n\
                         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        wire::MAX_PUSH_BYTES
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    let chunk = vec![b' '; 64 * 1024];
                    let body = async {
                        let mut sent = 0;
                        while sent + chunk.len() < wire::MAX_PUSH_BYTES {
                            if s.write_all(&chunk).await.is_err() {
                                return;
                            }
                            sent += chunk.len();
                        }
                    };
                    // A server that does not read (yet) leaves the rest unsent: that is
                    // a stall too.
                    let _ = tokio::time::timeout(Duration::from_secs(5), body).await;
                }
            }
            closed_after(s, start).await
        }));
    }
    // A normal client still gets through while all of that is open.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t0 = Instant::now();
    let r = normal
        .req(reqwest::Method::GET, wire::PATH_HANDSHAKE)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("the server stays reachable");
    assert_eq!(r.status(), StatusCode::OK);
    let reach = t0.elapsed();

    let mut slowest = Duration::ZERO;
    for t in tasks {
        let closed = t
            .await
            .unwrap()
            .expect("every stalled connection is closed");
        slowest = slowest.max(closed);
    }
    sampling.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    let peak_kib = peak.load(Ordering::Relaxed);
    eprintln!(
        "baseline {baseline} KiB, peak {peak_kib} KiB, normal client served in {reach:?}, \
         last stalled connection closed after {slowest:?}"
    );
    // 300 connections over a cap of 200 drain in two rounds of the 2 s timeouts.
    assert!(slowest < Duration::from_secs(15), "{slowest:?}");
    // 100 stalled 4 MiB pushes used to take it to 506 MB: now at most 4 buffered bodies
    // and a 64 KiB read buffer per connection.
    assert!(
        peak_kib < baseline + 96 * 1024,
        "RSS grew from {baseline} to {peak_kib} KiB"
    );
    // Still serving afterwards.
    let (s, _) = normal.get_json(wire::PATH_HANDSHAKE).await;
    assert_eq!(s, StatusCode::OK);
    drop(server);
}
