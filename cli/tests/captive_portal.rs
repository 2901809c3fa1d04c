//! Defect 12 (reliability issue #8), client part: behind a captive portal every request gets
//! `200 text/html` (the Wi-Fi login page), or a 200 whose JSON is cut short. That is a network
//! failure — exit 3, "work stays queued" — not a protocol error (exit 1).

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;

use support::{gw, path_str};

/// Answers every connection with `body` as a 200, forever (a thread per test).
fn portal(body: &'static str) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn defect12_captive_portal_or_truncated_200_exits_3() {
    for body in [
        "<html><body>请登录 Wi-Fi</body></html>",
        "{\"protocol\":1,\"min_protocol\":1,\"server_ti",
    ] {
        let url = portal(body);
        let dir = tempfile::tempdir().unwrap();
        let home = path_str(dir.path());
        let r = gw(&[
            "--home",
            &home,
            "init",
            "--server",
            &url,
            "--worker",
            "w-0002",
            "--device",
            "dev-1",
            "--token",
            "t",
            "--allow-http",
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let r = gw(&["--home", &home, "--json", "sync"]);
        r.assert_error(3, Some("network"));
    }
}
