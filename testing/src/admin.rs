//! The reference server's admin API (`/admin/v1/...`, bearer admin token), as tests use it
//! to see what the server holds. Panics on a transport failure: a test failure.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// An admin client of one server.
#[derive(Debug, Clone)]
pub struct Admin {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Admin {
    /// `base`: the server's URL without a trailing slash.
    pub fn new(base: &str, token: &str) -> Admin {
        Admin {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// GET `path`: the status and the body as JSON (`Null` when it is not JSON).
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.request(Method::GET, path, None).await;
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// GET `path`, the raw response (photo bytes).
    pub async fn get_raw(&self, path: &str) -> reqwest::Response {
        self.request(Method::GET, path, None).await
    }

    /// `method` on `path` with a JSON body: the status and the body as JSON.
    pub async fn send(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self.request(method, path, Some(body)).await;
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn request(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("admin request {path}: {e}"))
    }
}
