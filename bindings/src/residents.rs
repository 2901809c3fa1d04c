//! Residents and households on `GridWorker`: lookups, offline edits, conflicts. Each method
//! calls the core's method of the same name (core/src/worker/residents.rs).

use crate::error::{Result, invalid};
use crate::types::*;
use crate::worker::{GridWorker, page_limit};

fn page(
    p: gridworker_core::worker::Page<gridworker_core::worker::HouseholdCard>,
) -> HouseholdCardPage {
    HouseholdCardPage {
        items: map(p.items),
        next: p.next,
    }
}

#[uniffi::export]
impl GridWorker {
    /// The district's key groups (重点人群 tags: 低保, disability, veteran, elderly_alone…),
    /// pulled with the reference data. Tags on residents and households must be among them.
    pub fn key_groups(&self) -> Result<Vec<CatalogEntry>> {
        Ok(self
            .inner
            .key_groups()?
            .into_iter()
            .map(|e| CatalogEntry {
                code: e.code,
                name: e.name,
            })
            .collect())
    }

    /// Households whose address, building, residents' names, phones or ID numbers contain
    /// `query` (the last digits of a phone or ID number find it), by id a page at a time.
    pub fn search_households(
        &self,
        query: String,
        after: Option<String>,
        limit: i32,
    ) -> Result<HouseholdCardPage> {
        Ok(page(self.inner.search_households(
            &query,
            after.as_deref(),
            page_limit(limit)?,
        )?))
    }

    /// The households of one building (楼栋) by id, a page at a time.
    pub fn households_in_building(
        &self,
        building: String,
        after: Option<String>,
        limit: i32,
    ) -> Result<HouseholdCardPage> {
        Ok(page(self.inner.households_in_building(
            &building,
            after.as_deref(),
            page_limit(limit)?,
        )?))
    }

    /// Households within `radius_m` (at most 5000) of a WGS-84 position, nearest first.
    pub fn households_nearby(
        &self,
        position: Position,
        radius_m: f64,
        limit: i32,
    ) -> Result<Vec<NearbyHousehold>> {
        Ok(self
            .inner
            .households_nearby(position, radius_m, page_limit(limit)?)?
            .into_iter()
            .map(|(h, d)| NearbyHousehold {
                household: h.into(),
                distance_m: d,
            })
            .collect())
    }

    /// Households of the worker's grids in a key group ("all 低保 households"), by id.
    pub fn key_group_households(
        &self,
        tag: String,
        after: Option<String>,
        limit: i32,
    ) -> Result<HouseholdCardPage> {
        Ok(page(self.inner.key_group_households(
            &tag,
            after.as_deref(),
            page_limit(limit)?,
        )?))
    }

    /// A household with its residents (masked) and open conflicts, in one call.
    pub fn household_detail(&self, household_id: String) -> Result<HouseholdDetail> {
        Ok(self.inner.household_detail(&household_id)?.into())
    }

    /// One resident with the ID number and phone in full: the only call that shows them.
    pub fn resident_unmasked(&self, resident_id: String) -> Result<Resident> {
        Ok(self.inner.resident_unmasked(&resident_id)?.into())
    }

    /// Registers a resident (optionally during a visit: `visit_id`). `InvalidInput` names
    /// the field for a wrong ID check digit, an impossible birth date, a phone that is not a
    /// mainland number or a tag outside the key groups; nothing is recorded then.
    pub fn add_resident(
        &self,
        resident: NewResident,
        visit_id: Option<String>,
    ) -> Result<Resident> {
        Ok(self
            .inner
            .add_resident(&resident.into(), visit_id.as_deref())?
            .into())
    }

    /// Changes fields of a resident; only the fields that differ are recorded (none: nothing
    /// is). Returns the resident as now shown, masked.
    pub fn update_resident(
        &self,
        resident_id: String,
        update: ResidentUpdate,
        visit_id: Option<String>,
    ) -> Result<Resident> {
        Ok(self
            .inner
            .update_resident(&resident_id, update.into(), visit_id.as_deref())?
            .into())
    }

    /// Marks a resident moved out or deceased (or living again).
    pub fn set_resident_status(
        &self,
        resident_id: String,
        status: ResidentStatus,
        visit_id: Option<String>,
    ) -> Result<Resident> {
        Ok(self
            .inner
            .set_resident_status(&resident_id, status, visit_id.as_deref())?
            .into())
    }

    /// Changes fields of a household's profile.
    pub fn update_household(
        &self,
        household_id: String,
        update: HouseholdUpdate,
        visit_id: Option<String>,
    ) -> Result<HouseholdProfile> {
        Ok(self
            .inner
            .update_household(&household_id, update.into_core()?, visit_id.as_deref())?
            .into())
    }

    /// Open conflicts (and those resolved here, waiting to sync), or all with `all`, by id a
    /// page at a time; ID numbers and phones masked.
    pub fn conflicts_page(
        &self,
        all: bool,
        after: Option<String>,
        limit: i32,
    ) -> Result<ConflictPage> {
        let p = self
            .inner
            .conflicts_page(all, after.as_deref(), page_limit(limit)?)?;
        Ok(ConflictPage {
            items: map(p.items),
            next: p.next,
        })
    }

    /// One conflict with its values in full.
    pub fn conflict(&self, conflict_id: String) -> Result<Conflict> {
        Ok(self.inner.conflict(&conflict_id)?.into())
    }

    /// Resolves an open conflict: `Mine`, `Theirs`, or `Value` with `value`. Recorded and
    /// synced like every record; the chosen value shows at once.
    pub fn resolve_conflict(
        &self,
        conflict_id: String,
        take: Resolution,
        value: Option<FieldValue>,
    ) -> Result<Conflict> {
        if take != Resolution::Value && value.is_some() {
            return Err(invalid("value", "is only for taking a new value"));
        }
        Ok(self
            .inner
            .resolve_conflict(&conflict_id, take, value.map(Into::into))?
            .into())
    }
}
