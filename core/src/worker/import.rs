//! Reference data the app imports itself (QA seeding, a district preloading phones) is held
//! to the bounds a pull holds the server to (`sync::bounds`), refused as typed input errors
//! naming the field and the item's index, never its values. Nothing is written unless every
//! item passes: a NaN was a storage failure, and an infinite coordinate was stored as a
//! boundary with no vertex.

use crate::domain::{Grid, Household, InspectionPoint};
use crate::error::{Error, Result};
use crate::sync::bounds::{
    MAX_ADDRESS_CHARS, MAX_GRID_VERTICES, MAX_NAME_CHARS, MAX_TAG_CHARS, MAX_TAGS, MAX_WORKER_GRIDS,
};
use crate::validate;
use gridworker_model::feed_bounds::MAX_RADIUS_M;

/// `check` run on item `i` of `list`: its error names the item.
fn item(list: &str, i: usize, check: impl FnOnce() -> Result<()>) -> Result<()> {
    check().map_err(|e| match e {
        Error::InvalidInput { field, reason } => Error::InvalidInput {
            field,
            reason: format!("{list}[{i}]: {reason}"),
        },
        other => other,
    })
}

pub(super) fn check(
    grids: &[Grid],
    points: &[InspectionPoint],
    households: &[Household],
    worker_grids: &[String],
) -> Result<()> {
    for (i, g) in grids.iter().enumerate() {
        item("grids", i, || {
            validate::id("grid_code", &g.code)?;
            validate::text("name", &g.name, MAX_NAME_CHARS)?;
            if g.boundary.len() > MAX_GRID_VERTICES {
                return Err(Error::invalid(
                    "coordinate",
                    "a boundary has too many vertices",
                ));
            }
            g.boundary
                .iter()
                .try_for_each(|p| super::check_position("coordinate", *p))
        })?;
    }
    for (i, p) in points.iter().enumerate() {
        item("points", i, || {
            validate::id("point_id", &p.id)?;
            validate::id("grid_code", &p.grid_code)?;
            validate::text("name", &p.name, MAX_NAME_CHARS)?;
            super::check_position("coordinate", p.position)?;
            if !(p.radius_m.is_finite() && (0.0..=MAX_RADIUS_M).contains(&p.radius_m)) {
                return Err(Error::invalid(
                    "radius_m",
                    format!("must be a finite number between 0 and {MAX_RADIUS_M}"),
                ));
            }
            Ok(())
        })?;
    }
    for (i, h) in households.iter().enumerate() {
        item("households", i, || {
            validate::id("household_id", &h.id)?;
            validate::id("grid_code", &h.grid_code)?;
            validate::text("building", &h.building, MAX_NAME_CHARS)?;
            validate::text("address", &h.address, MAX_ADDRESS_CHARS)?;
            super::check_position("coordinate", h.position)?;
            if h.tags.len() > MAX_TAGS {
                return Err(Error::invalid("tags", format!("at most {MAX_TAGS} tags")));
            }
            h.tags
                .iter()
                .try_for_each(|t| Ok(validate::text("tags", t, MAX_TAG_CHARS)?))
        })?;
    }
    if worker_grids.len() > MAX_WORKER_GRIDS {
        return Err(Error::invalid("grid_code", "too many worker grids"));
    }
    for (i, code) in worker_grids.iter().enumerate() {
        item("worker_grids", i, || Ok(validate::id("grid_code", code)?))?;
    }
    Ok(())
}
