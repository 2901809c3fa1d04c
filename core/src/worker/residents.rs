//! Residents and households (信息采集): look them up, add and edit them offline, see and
//! resolve conflicts. Every edit is a record in the outbox carrying the version it was made
//! on and only the fields it changes; the server merges it field by field
//! (docs/protocol.md §4.7). Lists mask ID numbers and phones; only
//! [`GridWorker::resident_unmasked`] shows one resident's in full.

use chrono::NaiveDate;
use serde_json::Value;

use super::*;
use crate::model::residents::{
    self, Conflict, ConflictResolutionPayload, Entity, FieldUpdatePayload, Fields,
    HouseholdProfile, HousingType, Occupancy, Relation, Resident, ResidentAddPayload,
    ResidentStatus, Resolution, idcard::Sex, mask,
};
use crate::store::residents as rs;
use crate::sync::wire::CatalogEntry;

/// A resident as a screen shows them. In lists `id_number` and `phone` are masked
/// (`230102********1234`, `139****5678`); `masked` says which form this is.
#[derive(Debug, Clone, PartialEq)]
pub struct ResidentView {
    pub id: String,
    pub household_id: String,
    pub name: String,
    pub id_number: String,
    pub phone: Option<String>,
    pub relation: Relation,
    pub tags: Vec<String>,
    pub status: ResidentStatus,
    pub notes: String,
    /// Derived from the ID number.
    pub sex: Option<Sex>,
    pub birth_date: Option<NaiveDate>,
    /// The server's version this view is based on (0: added here, not yet synced).
    pub version: i64,
    pub masked: bool,
}

impl ResidentView {
    fn of(r: Resident, masked: bool) -> ResidentView {
        let card = residents::idcard::parse("id_number", &r.id_number).ok();
        ResidentView {
            id_number: if masked {
                mask::id_number(&r.id_number)
            } else {
                r.id_number
            },
            phone: r.phone.map(|p| if masked { mask::phone(&p) } else { p }),
            id: r.id,
            household_id: r.household_id,
            name: r.name,
            relation: r.relation,
            tags: r.tags,
            status: r.status,
            notes: r.notes,
            sex: card.as_ref().map(|c| c.sex),
            birth_date: card.map(|c| c.birth_date),
            version: r.version,
            masked,
        }
    }
}

/// A household in a list: where it is, its profile (contact phone masked) and who lives
/// there in brief.
#[derive(Debug, Clone, PartialEq)]
pub struct HouseholdCard {
    pub household: Household,
    pub profile: HouseholdProfile,
    /// Residents living there now.
    pub living: u32,
    /// The head of household's name, when on record.
    pub head_name: Option<String>,
    /// Open conflicts about the household or its residents.
    pub open_conflicts: u32,
}

/// A household with its residents (masked) and open conflicts: the visit screen.
#[derive(Debug, Clone, PartialEq)]
pub struct HouseholdDetail {
    pub household: Household,
    pub profile: HouseholdProfile,
    pub residents: Vec<ResidentView>,
    pub conflicts: Vec<ConflictView>,
}

/// A conflict and where this phone stands with it. In lists the values of `id_number`,
/// `phone` and `contact_phone` are masked.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictView {
    pub conflict: Conflict,
    /// Resolved on this phone, waiting to be synced.
    pub resolving: bool,
}

/// A new resident.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResident {
    pub household_id: String,
    pub name: String,
    pub id_number: String,
    pub phone: Option<String>,
    pub relation: Relation,
    pub tags: Vec<String>,
    pub notes: String,
}

/// The fields of a resident to change; `None` leaves a field as it is. `phone: Some("")`
/// removes the phone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResidentUpdate {
    pub name: Option<String>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub relation: Option<Relation>,
    pub tags: Option<Vec<String>>,
    pub status: Option<ResidentStatus>,
    pub notes: Option<String>,
}

/// The fields of a household's profile to change; `contact_phone: Some("")` removes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HouseholdUpdate {
    pub housing_type: Option<HousingType>,
    pub occupancy: Option<Occupancy>,
    pub resident_count: Option<u32>,
    pub contact_phone: Option<String>,
    pub tags: Option<Vec<String>>,
    pub notes: Option<String>,
}

fn json<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn phone_value(p: String) -> Value {
    if p.is_empty() {
        Value::Null
    } else {
        Value::from(p)
    }
}

/// The fields of an update that were set.
fn set_fields<const N: usize>(values: [(&str, Option<Value>); N]) -> Fields {
    values
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v?)))
        .collect()
}

impl ResidentUpdate {
    pub fn fields(self) -> Fields {
        set_fields([
            ("name", self.name.map(Value::from)),
            ("id_number", self.id_number.map(Value::from)),
            ("phone", self.phone.map(phone_value)),
            ("relation", self.relation.map(|r| Value::from(r.code()))),
            ("tags", self.tags.map(Value::from)),
            ("status", self.status.map(|r| Value::from(r.code()))),
            ("notes", self.notes.map(Value::from)),
        ])
    }
}

impl HouseholdUpdate {
    pub fn fields(self) -> Fields {
        set_fields([
            (
                "housing_type",
                self.housing_type.map(|h| Value::from(h.code())),
            ),
            ("occupancy", self.occupancy.map(|o| Value::from(o.code()))),
            ("resident_count", self.resident_count.map(Value::from)),
            ("contact_phone", self.contact_phone.map(phone_value)),
            ("tags", self.tags.map(Value::from)),
            ("notes", self.notes.map(Value::from)),
        ])
    }
}

/// Masks a personal value of a conflict for a list.
fn mask_value(field: &str, v: &Value) -> Value {
    match (field, v.as_str()) {
        ("id_number", Some(s)) => Value::from(mask::id_number(s)),
        ("phone" | "contact_phone", Some(s)) => Value::from(mask::phone(s)),
        _ => v.clone(),
    }
}

fn masked_conflict(mut c: Conflict) -> Conflict {
    let f = c.field.clone();
    for v in [&mut c.base, &mut c.mine, &mut c.theirs] {
        *v = mask_value(&f, v);
    }
    if let Some(r) = &mut c.resolution {
        *r = mask_value(&f, r);
    }
    c
}

/// Refuses tags outside the district's key-group list.
fn known_tags(conn: &rusqlite::Connection, field: &str, v: Option<&Value>) -> Result<()> {
    let Some(v) = v else { return Ok(()) };
    let known: Vec<String> = rs::key_groups(conn)?.into_iter().map(|e| e.code).collect();
    if residents::fields::unknown_tags(v, &known).is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "holds a tag that is not one of the district's key groups",
        ))
    }
}

fn card(conn: &rusqlite::Connection, id: &str) -> Result<Option<HouseholdCard>> {
    let (Some(household), Some(mut profile)) =
        (reference::household(conn, id)?, rs::profile(conn, id)?)
    else {
        return Ok(None);
    };
    profile.contact_phone = profile.contact_phone.map(|p| mask::phone(&p));
    let people = rs::residents_of(conn, id)?;
    let living: Vec<&Resident> = people
        .iter()
        .filter(|r| r.status == ResidentStatus::Living)
        .collect();
    Ok(Some(HouseholdCard {
        household,
        profile,
        living: living.len() as u32,
        head_name: living
            .iter()
            .find(|r| r.relation == Relation::Head)
            .map(|r| r.name.clone()),
        open_conflicts: rs::household_conflicts(conn, id)?.len() as u32,
    }))
}

fn cards(conn: &rusqlite::Connection, ids: Vec<String>) -> Result<Vec<HouseholdCard>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(c) = card(conn, &id)? {
            out.push(c);
        }
    }
    Ok(out)
}

/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 64;

impl GridWorker {
    /// Loads household profiles, residents and key groups as the server would send them
    /// (QA seeding offline, benchmarks), checking every value with the edit rules. Like
    /// [`GridWorker::import_reference`], not a product path: the app gets them by syncing.
    pub fn import_residents(
        &self,
        profiles: &[(String, HouseholdProfile)],
        people: &[Resident],
        key_groups: &[CatalogEntry],
    ) -> Result<()> {
        // Stored as an edit stores them: checked, then normalised (names trimmed, phones in
        // their stored form, tags sorted).
        let bad = |e: crate::model::residents::records::FieldError| {
            Error::invalid("fields", e.to_string())
        };
        let mut checked_profiles = Vec::with_capacity(profiles.len());
        for (id, p) in profiles {
            validate::id("household_id", id)?;
            let fields = residents::check_fields(Entity::Household, &p.fields())?;
            let mut p = p.clone();
            p.apply(&fields).map_err(bad)?;
            checked_profiles.push((id, p));
        }
        // What an edit could not record (a holder born after today) is not seeded either.
        let today = self.local_day(self.clock().now());
        let mut checked_people = Vec::with_capacity(people.len());
        for r in people {
            validate::id("resident.id", &r.id)?;
            validate::id("resident.household_id", &r.household_id)?;
            let fields = residents::check_new_fields(Entity::Resident, &r.fields(), today)?;
            let mut r = r.clone();
            r.apply(&fields).map_err(bad)?;
            checked_people.push(r);
        }
        self.store.write(|tx| {
            rs::set_key_groups(tx, key_groups)?;
            let mut dirty = rs::Dirty::default();
            for (id, p) in &checked_profiles {
                rs::put_profile(tx, id, p)?;
                dirty.0.insert((*id).clone());
            }
            for r in &checked_people {
                rs::put_resident(tx, r)?;
                dirty.0.insert(r.household_id.clone());
            }
            dirty.reindex(tx)
        })
    }

    /// The district's key groups (重点人群 tags), pulled with the reference data.
    pub fn key_groups(&self) -> Result<Vec<CatalogEntry>> {
        self.store.read(rs::key_groups)
    }

    /// Households whose address, building, residents' names, phones or ID numbers contain
    /// `query` (so the last digits of a phone or ID number find it), by id a page at a time.
    pub fn search_households(
        &self,
        query: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<HouseholdCard>> {
        let q = query.trim();
        if q.is_empty() {
            return Err(Error::invalid("query", "must not be empty"));
        }
        validate::text("query", q, MAX_QUERY_CHARS)?;
        self.card_page(after, limit, |c, after, limit| {
            rs::search(c, q, after, limit)
        })
    }

    /// The households of one building (楼栋), by id (unit and room order in the fixtures'
    /// ids), a page at a time.
    pub fn households_in_building(
        &self,
        building: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<HouseholdCard>> {
        validate::text("building", building, 200)?;
        self.card_page(after, limit, |c, after, limit| {
            rs::in_building(c, building, after, limit)
        })
    }

    /// One page of household cards by id: `ids` lists a page of ids after `after`.
    fn card_page(
        &self,
        after: Option<&str>,
        limit: u32,
        ids: impl Fn(&rusqlite::Connection, Option<&str>, u32) -> Result<Vec<String>>,
    ) -> Result<Page<HouseholdCard>> {
        if let Some(a) = after {
            validate::id("after", a)?;
        }
        let limit = limit.clamp(1, MAX_PAGE);
        let items = self.store.read(|c| cards(c, ids(c, after, limit)?))?;
        Ok(Page::of(items, limit, |h| {
            (String::new(), h.household.id.clone())
        }))
    }

    /// Households within `radius_m` of a WGS-84 position, nearest first.
    pub fn households_nearby(
        &self,
        position: Position,
        radius_m: f64,
        limit: u32,
    ) -> Result<Vec<(HouseholdCard, f64)>> {
        super::check_position("position", position)?;
        if !radius_m.is_finite() || !(0.0..=5_000.0).contains(&radius_m) {
            return Err(Error::invalid(
                "radius_m",
                "must be between 0 and 5000 metres",
            ));
        }
        let p = position;
        let dlat = radius_m / 111_000.0;
        let dlon = radius_m / (111_000.0 * p.lat.to_radians().cos().max(0.01));
        let limit = limit.clamp(1, MAX_PAGE) as usize;
        self.store.read(|c| {
            let mut near: Vec<(String, f64)> = rs::in_box(
                c,
                (p.lat - dlat, p.lat + dlat),
                (p.lon - dlon, p.lon + dlon),
            )?
            .into_iter()
            .map(|(id, lat, lon)| (id, p.distance_m(Position::new(lat, lon))))
            .filter(|(_, d)| *d <= radius_m)
            .collect();
            near.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            near.truncate(limit);
            let mut out = Vec::with_capacity(near.len());
            for (id, d) in near {
                if let Some(card) = card(c, &id)? {
                    out.push((card, d));
                }
            }
            Ok(out)
        })
    }

    /// Households of the worker's grids in a key group ("all 低保 households"): tagged so,
    /// or with a living resident tagged so; by id a page at a time.
    pub fn key_group_households(
        &self,
        tag: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<HouseholdCard>> {
        validate::id("tag", tag)?;
        self.card_page(after, limit, |c, after, limit| {
            let grids = reference::worker_grids(c)?;
            rs::with_key_group(c, &grids, tag, after, limit)
        })
    }

    /// A household with its residents (masked) and open conflicts, in one call.
    pub fn household_detail(&self, household_id: &str) -> Result<HouseholdDetail> {
        validate::id("household_id", household_id)?;
        self.store.read(|c| {
            let household = reference::household(c, household_id)?
                .ok_or_else(|| Error::not_found(NotFoundKind::Household, household_id))?;
            let profile = rs::profile(c, household_id)?
                .ok_or_else(|| Error::not_found(NotFoundKind::Household, household_id))?;
            let residents = rs::residents_of(c, household_id)?
                .into_iter()
                .map(|r| ResidentView::of(r, true))
                .collect();
            let conflicts = rs::household_conflicts(c, household_id)?
                .into_iter()
                .map(|(k, s)| ConflictView {
                    conflict: masked_conflict(k),
                    resolving: s == "resolving",
                })
                .collect();
            Ok(HouseholdDetail {
                household,
                profile,
                residents,
                conflicts,
            })
        })
    }

    /// One resident with the ID number and phone in full: the one call that shows them.
    pub fn resident_unmasked(&self, resident_id: &str) -> Result<ResidentView> {
        validate::id("resident_id", resident_id)?;
        let r = self
            .store
            .read(|c| rs::resident(c, resident_id))?
            .ok_or_else(|| Error::not_found(NotFoundKind::Resident, resident_id))?;
        Ok(ResidentView::of(r, false))
    }

    fn check_visit(&self, tx: &rusqlite::Connection, visit_id: Option<&str>) -> Result<()> {
        if let Some(v) = visit_id {
            validate::id("visit_id", v)?;
            let known = tx
                .prepare_cached("SELECT 1 FROM visits WHERE id = ?1")?
                .exists([v])?;
            if !known {
                return Err(Error::not_found(NotFoundKind::Visit, v));
            }
        }
        Ok(())
    }

    /// Registers a resident of a household, optionally during a visit. Returns the resident
    /// unmasked (the worker just typed it).
    pub fn add_resident(&self, new: &NewResident, visit_id: Option<&str>) -> Result<ResidentView> {
        validate::id("household_id", &new.household_id)?;
        let now = self.clock().now();
        let today = self.local_day(now);
        let id_number = residents::idcard::parse_new("id_number", &new.id_number, today)?.number;
        let phone = match new.phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(residents::phone::normalise("phone", p)?),
        };
        let tags = residents::fields::tags("tags", &json(&new.tags))?;
        let payload = ResidentAddPayload {
            id: new_id(),
            worker_id: self.config.worker_id.clone(),
            device_id: self.config.device_id.clone(),
            household_id: new.household_id.clone(),
            visit_id: visit_id.map(str::to_string),
            name: new.name.trim().to_string(),
            id_number,
            phone,
            relation: new.relation,
            tags,
            notes: new.notes.clone(),
            recorded_at: now,
        };
        validate::resident_add(&payload, today)?;
        let resident = payload.resident();
        self.store.write(|tx| {
            if reference::household(tx, &new.household_id)?.is_none() {
                return Err(Error::not_found(NotFoundKind::Household, &new.household_id));
            }
            self.check_visit(tx, visit_id)?;
            known_tags(tx, "tags", Some(&json(&payload.tags)))?;
            rs::put_resident(tx, &resident)?;
            rs::reindex(tx, &resident.household_id)?;
            outbox::append(
                tx,
                kind::RESIDENT_ADD,
                &payload.id,
                payload_json(&payload)?,
                now,
                0,
            )?;
            Ok(())
        })?;
        Ok(ResidentView::of(resident, false))
    }

    /// Changes fields of a resident (marking them moved out or deceased is a change of
    /// `status`). Only the fields that differ are recorded; when none does, nothing is.
    /// Returns the resident as now shown (masked).
    pub fn update_resident(
        &self,
        resident_id: &str,
        update: ResidentUpdate,
        visit_id: Option<&str>,
    ) -> Result<ResidentView> {
        validate::id("resident_id", resident_id)?;
        let today = self.local_day(self.clock().now());
        let fields = residents::check_new_fields(Entity::Resident, &update.fields(), today)?;
        let r = self.edit(Entity::Resident, resident_id, fields, visit_id)?;
        match r {
            Edited::Resident(r) => Ok(ResidentView::of(r, true)),
            Edited::Household(_) => Err(Error::invalid("resident_id", "is not a resident")),
        }
    }

    /// Marks a resident moved out or deceased (or living again).
    pub fn set_resident_status(
        &self,
        resident_id: &str,
        status: ResidentStatus,
        visit_id: Option<&str>,
    ) -> Result<ResidentView> {
        self.update_resident(
            resident_id,
            ResidentUpdate {
                status: Some(status),
                ..Default::default()
            },
            visit_id,
        )
    }

    /// Changes fields of a household's profile; returns the profile as now shown.
    pub fn update_household(
        &self,
        household_id: &str,
        update: HouseholdUpdate,
        visit_id: Option<&str>,
    ) -> Result<HouseholdProfile> {
        validate::id("household_id", household_id)?;
        let fields = residents::check_fields(Entity::Household, &update.fields())?;
        match self.edit(Entity::Household, household_id, fields, visit_id)? {
            Edited::Household(p) => Ok(p),
            Edited::Resident(_) => Err(Error::invalid("household_id", "is not a household")),
        }
    }

    fn edit(
        &self,
        entity: Entity,
        id: &str,
        fields: Fields,
        visit_id: Option<&str>,
    ) -> Result<Edited> {
        let now = self.clock().now();
        self.store.write(|tx| {
            self.check_visit(tx, visit_id)?;
            known_tags(tx, "fields.tags", fields.get("tags"))?;
            let (current, version, household_id) = match entity {
                Entity::Resident => {
                    let r = rs::resident(tx, id)?
                        .ok_or_else(|| Error::not_found(NotFoundKind::Resident, id))?;
                    (r.fields(), r.version, r.household_id)
                }
                Entity::Household => {
                    let p = rs::profile(tx, id)?
                        .ok_or_else(|| Error::not_found(NotFoundKind::Household, id))?;
                    (p.fields(), p.version, id.to_string())
                }
            };
            let changed: Fields = fields
                .iter()
                .filter(|(k, v)| current.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let bad = |e: crate::model::residents::records::FieldError| {
                Error::invalid("fields", e.to_string())
            };
            let edited = match entity {
                Entity::Resident => {
                    let mut r = rs::resident(tx, id)?
                        .ok_or_else(|| Error::not_found(NotFoundKind::Resident, id))?;
                    r.apply(&changed).map_err(bad)?;
                    if !changed.is_empty() {
                        rs::put_resident(tx, &r)?;
                    }
                    Edited::Resident(r)
                }
                Entity::Household => {
                    let mut p = rs::profile(tx, id)?
                        .ok_or_else(|| Error::not_found(NotFoundKind::Household, id))?;
                    p.apply(&changed).map_err(bad)?;
                    if !changed.is_empty() {
                        rs::put_profile(tx, id, &p)?;
                    }
                    Edited::Household(p)
                }
            };
            if changed.is_empty() {
                return Ok(edited);
            }
            rs::reindex(tx, &household_id)?;
            let payload = FieldUpdatePayload {
                id: new_id(),
                worker_id: self.config.worker_id.clone(),
                device_id: self.config.device_id.clone(),
                target_id: id.to_string(),
                base_version: version,
                previous: changed
                    .keys()
                    .map(|k| (k.clone(), current.get(k).cloned().unwrap_or(Value::Null)))
                    .collect(),
                fields: changed,
                visit_id: visit_id.map(str::to_string),
                recorded_at: now,
            };
            validate::field_update(entity, &payload, self.local_day(now))?;
            let k = match entity {
                Entity::Resident => kind::RESIDENT_UPDATE,
                Entity::Household => kind::HOUSEHOLD_UPDATE,
            };
            outbox::append(tx, k, &payload.id, payload_json(&payload)?, now, 0)?;
            Ok(edited)
        })
    }

    /// Conflicts about residents and households of the worker's grids, by id a page at a
    /// time: open ones (and those resolved here, waiting to sync), or all with `all`.
    /// Personal values are masked; [`Self::conflict`] shows one in full.
    pub fn conflicts_page(
        &self,
        all: bool,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<ConflictView>> {
        if let Some(a) = after {
            validate::id("after", a)?;
        }
        let limit = limit.clamp(1, MAX_PAGE);
        let items: Vec<ConflictView> = self
            .store
            .read(|c| rs::conflicts(c, all, after, limit))?
            .into_iter()
            .map(|(c, s)| ConflictView {
                conflict: masked_conflict(c),
                resolving: s == "resolving",
            })
            .collect();
        Ok(Page::of(items, limit, |c| {
            (String::new(), c.conflict.id.clone())
        }))
    }

    /// One conflict with its values in full, to decide it.
    pub fn conflict(&self, conflict_id: &str) -> Result<ConflictView> {
        validate::id("conflict_id", conflict_id)?;
        let (c, s) = self
            .store
            .read(|c| rs::conflict(c, conflict_id))?
            .ok_or_else(|| Error::not_found(NotFoundKind::Conflict, conflict_id))?;
        Ok(ConflictView {
            conflict: c,
            resolving: s == "resolving",
        })
    }

    /// Resolves an open conflict: take this phone's value, the other side's, or a new one
    /// (`value`, for [`Resolution::Value`] only). Recorded and synced like every record; the
    /// chosen value shows at once.
    pub fn resolve_conflict(
        &self,
        conflict_id: &str,
        take: Resolution,
        value: Option<Value>,
    ) -> Result<ConflictView> {
        validate::id("conflict_id", conflict_id)?;
        let now = self.clock().now();
        self.store.write(|tx| {
            let (mut c, status) = rs::conflict(tx, conflict_id)?
                .ok_or_else(|| Error::not_found(NotFoundKind::Conflict, conflict_id))?;
            if status != "open" {
                return Err(Error::InvalidState {
                    what: "conflict",
                    state: status,
                    reason: "only an open conflict can be resolved".into(),
                });
            }
            let chosen = match take {
                Resolution::Mine => c.mine.clone(),
                Resolution::Theirs => c.theirs.clone(),
                Resolution::Value => {
                    // JSON null would read as "no value" on the wire: a field is cleared by
                    // taking the side that has none.
                    let v = value.as_ref().filter(|v| !v.is_null()).ok_or_else(|| {
                        Error::invalid(
                            "value",
                            "is required when taking a new value (to clear the field, take the side without one)",
                        )
                    })?;
                    let v = residents::check_new_value(c.entity, &c.field, v, self.local_day(now))
                        .map_err(|e| Error::invalid("value", e.reason))?;
                    if c.field == "tags" {
                        known_tags(tx, "value", Some(&v))?;
                    }
                    v
                }
            };
            let payload = ConflictResolutionPayload {
                id: new_id(),
                worker_id: self.config.worker_id.clone(),
                device_id: self.config.device_id.clone(),
                conflict_id: conflict_id.to_string(),
                take,
                value: if take == Resolution::Value {
                    Some(chosen.clone())
                } else {
                    None
                },
                recorded_at: now,
            };
            validate::conflict_resolution(&payload)?;
            c.resolution = Some(chosen.clone());
            c.resolved_by = Some(self.config.worker_id.clone());
            c.resolved_at = Some(now);
            rs::mark_resolving(tx, &c)?;
            let f = Fields::from([(c.field.clone(), chosen)]);
            let bad = |e: crate::model::residents::records::FieldError| Error::invalid("value", e.to_string());
            match c.entity {
                Entity::Resident => {
                    if let Some(mut r) = rs::resident(tx, &c.entity_id)? {
                        r.apply(&f).map_err(bad)?;
                        rs::put_resident(tx, &r)?;
                    }
                }
                Entity::Household => {
                    if let Some(mut p) = rs::profile(tx, &c.entity_id)? {
                        p.apply(&f).map_err(bad)?;
                        rs::put_profile(tx, &c.entity_id, &p)?;
                    }
                }
            }
            rs::reindex(tx, &c.household_id)?;
            outbox::append(
                tx,
                kind::CONFLICT_RESOLUTION,
                &payload.id,
                payload_json(&payload)?,
                now,
                0,
            )?;
            Ok(ConflictView {
                conflict: c,
                resolving: true,
            })
        })
    }
}

enum Edited {
    Resident(Resident),
    Household(HouseholdProfile),
}
