//! The back office's side of residents and households (docs/protocol.md §8): read a
//! resident with its history, edit residents and household profiles, list and resolve
//! conflicts.

use std::collections::HashMap;
use std::sync::Arc;

use crate::store::Tx;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use gridworker_model::residents::{self, Entity, Fields, Resident, Resolution};
use gridworker_model::wire::codes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::edit::{self, Actor, NotResolved, Target};
use super::store;
use crate::AppState;
use crate::admin::{admin, body_json};
use crate::error::{ApiError, ApiResult};
use crate::http::{blocking, json_response};

/// Most conflicts in one listing.
const MAX_CONFLICTS: u32 = 1_000;

fn admin_actor() -> Actor<'static> {
    Actor {
        id: "admin",
        device: None,
        source: "admin".to_string(),
        at: Utc::now(),
    }
}

fn resident_json(tx: &Tx<'_>, id: &str) -> ApiResult<Option<Value>> {
    let Some((r, grid)) = store::resident(tx, id)? else {
        return Ok(None);
    };
    let card = residents::idcard::parse("id_number", &r.id_number).ok();
    Ok(Some(json!({
        "resident": r,
        "grid_code": grid,
        "sex": card.as_ref().map(|c| c.sex.code()),
        "birth_date": card.as_ref().map(|c| c.birth_date.to_string()),
        "history": store::history(tx, Entity::Resident, id)?,
        "open_conflicts": store::open_conflicts_of(tx, Entity::Resident, id)?,
    })))
}

fn household_json(tx: &Tx<'_>, id: &str) -> ApiResult<Option<Value>> {
    let Some((p, grid)) = store::profile(tx, id)? else {
        return Ok(None);
    };
    Ok(Some(json!({
        "id": id,
        "grid_code": grid,
        "profile": p,
        "history": store::history(tx, Entity::Household, id)?,
    })))
}

/// `GET /admin/v1/residents/{id}`: the resident unmasked, sex and birth date derived from
/// the ID number, every stored change and the open conflicts.
pub async fn get_resident(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    let st2 = st.clone();
    let v = blocking(move || {
        st2.db
            .read(|tx| resident_json(tx, &id))?
            .ok_or_else(|| ApiError::not_found("no such resident"))
    })
    .await?;
    Ok(json_response(StatusCode::OK, &v))
}

/// Checks a back-office edit: known fields, valid values (new ones, as of today), tags from
/// the district's list.
fn checked(tx: &Tx<'_>, entity: Entity, fields: &Fields) -> ApiResult<Fields> {
    let f =
        residents::check_new_fields(entity, fields, super::today()).map_err(ApiError::invalid)?;
    if let Some(tags) = f.get("tags")
        && !residents::fields::unknown_tags(tags, &store::key_group_codes(tx)?).is_empty()
    {
        return Err(ApiError::invalid(
            "fields.tags: is not in the district's key groups",
        ));
    }
    Ok(f)
}

async fn patch(
    st: Arc<AppState>,
    h: HeaderMap,
    entity: Entity,
    id: String,
    body: Body,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    let fields: Fields = body_json(&h, body).await?;
    let st2 = st.clone();
    let v = blocking(move || {
        st2.db.write_edit(|tx| {
            let Some(mut target) = Target::load(tx, entity, &id)? else {
                return Err(ApiError::not_found(format!("no such {}", entity.code())));
            };
            let f = checked(tx, entity, &fields)?;
            edit::write_fields(tx, &mut target, &f, &admin_actor(), false)?;
            match entity {
                Entity::Resident => resident_json(tx, &id),
                Entity::Household => household_json(tx, &id),
            }?
            .ok_or_else(|| ApiError::internal("record vanished"))
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &v))
}

/// `PATCH /admin/v1/residents/{id}`: a JSON object of the fields to change.
pub async fn patch_resident(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    patch(st, h, Entity::Resident, id, body).await
}

/// `PATCH /admin/v1/households/{id}`: a JSON object of the profile fields to change.
pub async fn patch_household(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    patch(st, h, Entity::Household, id, body).await
}

/// Body of `PUT /admin/v1/residents/{id}`: a resident registered by the back office.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentIn {
    pub household_id: String,
    pub name: String,
    pub id_number: String,
    #[serde(default)]
    pub phone: Option<String>,
    pub relation: residents::Relation,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub notes: String,
}

/// `PUT /admin/v1/residents/{id}`: registers a resident (201), or 409 when the id exists
/// (edits go through `PATCH`, so that they are versioned and merged).
pub async fn put_resident(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    let r: ResidentIn = body_json(&h, body).await?;
    gridworker_model::validate::id("id", &id).map_err(ApiError::invalid)?;
    let st2 = st.clone();
    let v = blocking(move || {
        st2.db.write_edit(|tx| {
            if store::resident(tx, &id)?.is_some() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    codes::RECORD_ID_REUSED,
                    "a resident with this id exists; change it with PATCH",
                ));
            }
            if store::household_grid(tx, &r.household_id)?.is_none() {
                return Err(ApiError::invalid("household_id: no such household"));
            }
            let mut fields = Fields::new();
            fields.insert("name".into(), Value::from(r.name.clone()));
            fields.insert("id_number".into(), Value::from(r.id_number.clone()));
            fields.insert("phone".into(), json!(r.phone));
            fields.insert("tags".into(), json!(r.tags));
            fields.insert("notes".into(), Value::from(r.notes.clone()));
            fields.insert("relation".into(), json!(r.relation));
            fields.insert("status".into(), json!("living"));
            let f = checked(tx, Entity::Resident, &fields)?;
            let mut resident = Resident {
                id: id.clone(),
                household_id: r.household_id.clone(),
                name: String::new(),
                id_number: String::new(),
                phone: None,
                relation: r.relation,
                tags: vec![],
                status: residents::ResidentStatus::Living,
                notes: String::new(),
                version: 1,
            };
            resident
                .apply(&f)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            store::save_resident(tx, &resident, "admin", Utc::now())?;
            resident_json(tx, &id)?.ok_or_else(|| ApiError::internal("record vanished"))
        })
    })
    .await?;
    Ok(json_response(StatusCode::CREATED, &v))
}

/// `GET /admin/v1/conflicts?status=open|resolved|all` (default `open`), oldest first.
pub async fn list_conflicts(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    if q.keys().any(|k| k != "status") {
        return Err(ApiError::invalid(
            "unknown query parameter (status is known)",
        ));
    }
    let status = match q.get("status").map(String::as_str) {
        None | Some("open") => Some("open"),
        Some("resolved") => Some("resolved"),
        Some("all") => None,
        Some(_) => return Err(ApiError::invalid("status must be open, resolved or all")),
    };
    let st2 = st.clone();
    let list = blocking(move || {
        st2.db
            .read(|tx| store::conflicts(tx, status, MAX_CONFLICTS))
    })
    .await?;
    Ok(json_response(StatusCode::OK, &json!({ "conflicts": list })))
}

/// Body of `POST /admin/v1/conflicts/{id}/resolve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    pub take: Resolution,
    #[serde(default)]
    pub value: Option<Value>,
}

/// `POST /admin/v1/conflicts/{id}/resolve`: 404 unknown, 409 `already_resolved`.
pub async fn resolve_conflict(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    let r: ResolveIn = body_json(&h, body).await?;
    match (r.take, &r.value) {
        (Resolution::Value, None | Some(Value::Null)) => {
            return Err(ApiError::invalid(
                "value: is required when taking a new value (to clear a field, take the side without one)",
            ));
        }
        (Resolution::Mine | Resolution::Theirs, Some(_)) => {
            return Err(ApiError::invalid("value: is only for taking a new value"));
        }
        _ => {}
    }
    let st2 = st.clone();
    let c = blocking(move || {
        st2.db.write_edit(|tx| {
            let actor = Actor {
                id: "admin",
                device: None,
                source: format!("resolution:{id}"),
                at: Utc::now(),
            };
            let got = edit::resolve(
                tx,
                &id,
                |c| {
                    let v = edit::resolution_value(c, r.take, r.value.as_ref(), super::today())
                        .map_err(ApiError::invalid)?;
                    if c.field == "tags"
                        && !residents::fields::unknown_tags(&v, &store::key_group_codes(tx)?)
                            .is_empty()
                    {
                        return Err(ApiError::invalid(
                            "value: is not in the district's key groups",
                        ));
                    }
                    Ok(v)
                },
                &actor,
            )?;
            match got {
                Ok(c) => Ok(c),
                Err(NotResolved::UnknownConflict) => Err(ApiError::not_found("no such conflict")),
                Err(NotResolved::AlreadyResolved) => Err(ApiError::new(
                    StatusCode::CONFLICT,
                    codes::ALREADY_RESOLVED,
                    "the conflict is already resolved",
                )),
            }
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &c))
}
