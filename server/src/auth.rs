//! Who is calling (protocol version, worker token, worker and device headers), and which
//! worker a device is bound to.

use crate::params;
use crate::store::{OptionalExtension, Tx};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use gridworker_model::wire::{self, codes};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::http::{bearer, header};

/// Who is calling: the token's worker and the device header.
pub struct Caller {
    pub worker_id: String,
    pub device_id: String,
    /// The protocol version the client speaks (its header).
    pub protocol: u32,
}

/// Protocol version (426 / 400), token (401), worker header (403), device header (400).
pub fn authenticate(st: &AppState, h: &HeaderMap) -> ApiResult<Caller> {
    let proto = header(h, wire::HEADER_PROTOCOL)
        .ok_or_else(|| ApiError::bad_header("the Gridworker-Protocol header is required"))?;
    let proto: u32 = proto
        .parse()
        .map_err(|_| ApiError::bad_header("Gridworker-Protocol must be a decimal integer"))?;
    if proto < st.min_protocol {
        let mut e = ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            codes::CLIENT_TOO_OLD,
            format!(
                "protocol {proto} is no longer accepted; this server requires at least {}",
                st.min_protocol
            ),
        );
        e.min_protocol = Some(st.min_protocol);
        return Err(e);
    }
    let token = bearer(h).ok_or_else(|| ApiError::unauthorized("a bearer token is required"))?;
    let worker_id = st
        .tokens
        .get(token)
        .cloned()
        .ok_or_else(|| ApiError::unauthorized("unknown token"))?;
    if let Some(w) = header(h, wire::HEADER_WORKER)
        && w != worker_id
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::WORKER_MISMATCH,
            "the token belongs to another worker than Gridworker-Worker names",
        ));
    }
    let device_id = header(h, wire::HEADER_DEVICE)
        .ok_or_else(|| ApiError::bad_header("the Gridworker-Device header is required"))?;
    // The id rule of every payload's device_id: a header a payload could never match would
    // bind a device that can never push.
    gridworker_model::validate::id(wire::HEADER_DEVICE, device_id)
        .map_err(|e| ApiError::bad_header(e.to_string()))?;
    let device_id = device_id.to_string();
    Ok(Caller {
        worker_id,
        device_id,
        protocol: proto,
    })
}

/// Binds the device to the caller's worker on first use; 403 `device_bound` when another
/// worker holds it (re-binding is an admin act: `POST /admin/v1/devices/{id}/bind`).
pub(crate) fn bind_device(tx: &Tx<'_>, caller: &Caller) -> ApiResult<()> {
    let bound: Option<String> = tx
        .prepare_cached("SELECT worker_id FROM device_bindings WHERE device_id = ?1")?
        .query_row([&caller.device_id], |r| r.get(0))
        .optional()?;
    match bound {
        Some(w) if w == caller.worker_id => Ok(()),
        Some(_) => Err(device_bound()),
        None => {
            tx.prepare_cached(
                "INSERT INTO device_bindings (device_id, worker_id, bound_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![caller.device_id, caller.worker_id, Utc::now()])?;
            Ok(())
        }
    }
}

/// Who holds the device, seen from the caller (read-only check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binding {
    Caller,
    Other,
    Nobody,
}

pub(crate) fn binding(tx: &Tx<'_>, caller: &Caller) -> ApiResult<Binding> {
    let bound: Option<String> = tx
        .prepare_cached("SELECT worker_id FROM device_bindings WHERE device_id = ?1")?
        .query_row([&caller.device_id], |r| r.get(0))
        .optional()?;
    Ok(match bound {
        Some(w) if w == caller.worker_id => Binding::Caller,
        Some(_) => Binding::Other,
        None => Binding::Nobody,
    })
}

/// Whether the device is bound to another worker than the caller (read-only check).
pub(crate) fn bound_to_other(tx: &Tx<'_>, caller: &Caller) -> ApiResult<bool> {
    Ok(binding(tx, caller)? == Binding::Other)
}

pub(crate) fn device_bound() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        codes::DEVICE_BOUND,
        "this device is bound to another worker; an administrator can re-bind it",
    )
}
