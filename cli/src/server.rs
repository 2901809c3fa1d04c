//! The server a scenario or the demo talks to: an in-process reference server on a free
//! loopback port seeded with a fixture district, or a remote one given by URL. Admin calls
//! (what the server holds, moving a report through its lifecycle) go over HTTP either way.

use std::path::Path;

use gridworker_fixtures::scenario::Counts;
use serde_json::Value;

use crate::error::{CliError, CliResult, Kind};

/// Where to sync, and how to ask the server what it holds.
pub struct Target {
    pub url: String,
    pub token: Option<String>,
    /// Token for the admin endpoints (None: not available, server counts are skipped).
    pub admin_token: Option<String>,
}

/// Keeps the in-process server alive; dropping it stops the server, then removes its data.
pub struct LocalServer {
    // Field order matters: the server stops before its directory is removed.
    _handle: gridworker_server::ServerHandle,
    _data: tempfile::TempDir,
}

impl Target {
    /// A server given by URL (http allowed: QA).
    pub fn remote(
        url: &str,
        token: Option<String>,
        admin_token: Option<String>,
    ) -> CliResult<Target> {
        let url = url.trim().trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(CliError::invalid(format!(
                "--server {url}: must start with http:// or https://"
            )));
        }
        Ok(Target {
            url: url.to_string(),
            token,
            admin_token,
        })
    }

    fn runtime() -> CliResult<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::internal(format!("starting a runtime: {e}")))
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> CliResult<Value> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .map_err(|e| CliError::internal(e.to_string()))?;
        let mut req = client.request(method, format!("{}{path}", self.url));
        if let Some(t) = &self.admin_token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| CliError::new(Kind::Network, format!("admin request {path}: {e}")))?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(CliError::new(
                Kind::Authentication,
                format!("admin request {path}: {status}"),
            ));
        }
        let text = resp
            .text()
            .await
            .map_err(|e| CliError::new(Kind::Network, format!("admin request {path}: {e}")))?;
        if !status.is_success() {
            // The error's code only: its message is the server's own text, and a server
            // other than ours may quote the values it refused (a name, an ID number).
            let code = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
                .unwrap_or_else(|| "no error code".into());
            return Err(CliError::internal(format!(
                "admin request {path}: {status} ({code})"
            )));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| CliError::internal(format!("admin request {path}: bad JSON: {e}")))
    }

    /// Records of `kind` the server holds for this worker and device.
    fn records(&self, rt: &tokio::runtime::Runtime, kind: &str) -> CliResult<Vec<Value>> {
        let v = rt.block_on(self.admin(
            reqwest::Method::GET,
            &format!("/admin/v1/records?kind={kind}"),
            None,
        ))?;
        Ok(records_of(&v))
    }

    /// What the server holds for `worker` / `device`, per kind; `None` when the target has no
    /// admin access.
    pub fn counts(&self, worker: &str, device: &str) -> CliResult<Option<Counts>> {
        if self.admin_token.is_none() {
            return Ok(None);
        }
        let rt = Self::runtime()?;
        let mine = |v: &Value| {
            let w = field(v, "worker_id");
            let d = field(v, "device_id");
            w.is_none_or(|w| w == worker) && d.is_none_or(|d| d == device)
        };
        let checkins = self
            .records(&rt, "checkin")?
            .iter()
            .filter(|v| mine(v))
            .count();
        let visits = self
            .records(&rt, "visit")?
            .iter()
            .filter(|v| mine(v))
            .count();
        let reports: Vec<Value> = self
            .records(&rt, "report")?
            .into_iter()
            .filter(|v| mine(v))
            .collect();
        let photos = reports
            .iter()
            .map(|r| {
                payload(r).map_or(0, |p| {
                    p.get("photos")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)
                })
            })
            .sum();
        Ok(Some(Counts {
            checkins,
            visits,
            reports: reports.len(),
            photos,
        }))
    }

    /// The worker's day track as the server holds it (`GET /admin/v1/tracks`); `None` when the
    /// target has no admin access.
    pub fn track_day(
        &self,
        worker: &str,
        day: chrono::NaiveDate,
        utc_offset_minutes: i32,
    ) -> CliResult<Option<Value>> {
        if self.admin_token.is_none() {
            return Ok(None);
        }
        let rt = Self::runtime()?;
        let path = format!(
            "/admin/v1/tracks?worker={worker}&day={day}&utc_offset_minutes={utc_offset_minutes}"
        );
        Ok(Some(rt.block_on(self.admin(
            reqwest::Method::GET,
            &path,
            None,
        ))?))
    }

    /// Moves a report one step through the back office's lifecycle.
    /// The back office edits a resident (needs the admin token).
    pub fn patch_resident(
        &self,
        resident_id: &str,
        fields: &std::collections::BTreeMap<String, Value>,
    ) -> CliResult<()> {
        if self.admin_token.is_none() {
            return Err(CliError::invalid(
                "a back_office step needs the server's admin token (--admin-token)",
            ));
        }
        let rt = Self::runtime()?;
        rt.block_on(self.admin(
            reqwest::Method::PATCH,
            &format!("/admin/v1/residents/{resident_id}"),
            Some(serde_json::to_value(fields).map_err(|e| CliError::internal(e.to_string()))?),
        ))?;
        Ok(())
    }

    pub fn transition(&self, report_id: &str, to: &str, department: Option<&str>) -> CliResult<()> {
        let rt = Self::runtime()?;
        let mut body = serde_json::json!({ "to": to });
        if let Some(d) = department {
            body["department"] = Value::from(d);
        }
        rt.block_on(self.admin(
            reqwest::Method::POST,
            &format!("/admin/v1/reports/{report_id}/transition"),
            Some(body),
        ))?;
        Ok(())
    }
}

/// The record list in an admin answer: a bare array or `{"records": [...]}`.
fn records_of(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Object(o) => o
            .get("records")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A record's payload, whether it is stored as an object or as the canonical JSON text.
fn payload(v: &Value) -> Option<Value> {
    match v.get("payload") {
        Some(Value::String(s)) => serde_json::from_str(s).ok(),
        Some(p @ Value::Object(_)) => Some(p.clone()),
        _ => Some(v.clone()),
    }
}

/// A string field of the record or of its payload.
fn field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str).or_else(|| {
        v.get("payload")
            .and_then(|p| p.get(name))
            .and_then(Value::as_str)
    })
}

/// Starts the reference server in-process on a free loopback port, seeded with `district`,
/// with a token for `worker` and a fresh admin token.
pub fn start_local(district: &Path, worker: &str) -> CliResult<(Target, LocalServer)> {
    if !district.is_dir() {
        return Err(CliError::invalid(format!(
            "{}: no such district directory",
            district.display()
        )));
    }
    let data = crate::home::scratch_dir("server")?;
    let token = format!("qa-token-{worker}");
    let admin_token = format!("qa-admin-{}", gridworker_core::domain::new_id());
    let mut config = gridworker_server::ServerConfig::new(data.path())
        .fixtures(district)
        .token(worker, &token);
    config.admin_token = admin_token.clone();
    let handle = gridworker_server::spawn_in_thread(config).map_err(|e| match e {
        gridworker_server::ServerError::Fixtures(m) => CliError::invalid(m),
        other => CliError::internal(format!("starting the reference server: {other}")),
    })?;
    Ok((
        Target {
            url: handle.url(),
            token: Some(token),
            admin_token: Some(admin_token),
        },
        LocalServer {
            _handle: handle,
            _data: data,
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// A back-office step the server refuses fails naming the request, the status and the
    /// error's code, never the server's message: a server other than ours may quote the
    /// values it refused. The message was printed whole.
    #[test]
    fn a_refused_admin_request_names_the_code_and_never_the_servers_text() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let body = r#"{"error":{"code":"invalid_payload","message":"name 王小明 / 230302199001011234 refused"}}"#;
                let _ = write!(
                    s,
                    "HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        let t = Target::remote(&url, None, Some("admin".into())).unwrap();
        let fields = [("name".to_string(), Value::from("王小明"))].into();
        let e = t.patch_resident("r-1", &fields).unwrap_err();
        assert!(
            e.message.contains("/admin/v1/residents/r-1")
                && e.message.contains("422")
                && e.message.contains("invalid_payload"),
            "{}",
            e.message
        );
        assert!(
            !e.message.contains("王小明") && !e.message.contains("230302"),
            "{}",
            e.message
        );
    }
}
