//! Seeding household profiles, residents and key groups from a fixture district. The
//! fixtures' conversions check every value with the rule a phone's edit passes, so the seed
//! cannot hold what no edit could.

use crate::store::Tx;
use chrono::Utc;

use super::store;
use crate::error::{ApiError, ApiResult};

fn fixture_error(e: gridworker_fixtures::FixtureError) -> ApiError {
    ApiError::invalid(format!("fixtures: {e}"))
}

pub(crate) fn seed(tx: &Tx<'_>, d: &gridworker_fixtures::District) -> ApiResult<()> {
    store::set_key_groups(tx, &gridworker_fixtures::key_groups_to_domain(d))?;
    for (id, p) in gridworker_fixtures::household_profiles(d).map_err(fixture_error)? {
        store::save_profile(tx, &id, &p)?;
    }
    let now = Utc::now();
    let today = super::today();
    for r in gridworker_fixtures::residents_to_domain(d).map_err(fixture_error)? {
        // The conversion has no clock: the one rule that needs the day is checked here.
        gridworker_model::residents::idcard::parse_new("id_number", &r.id_number, today)
            .map_err(|e| ApiError::invalid(format!("fixtures: resident {}: {e}", r.id)))?;
        store::save_resident(tx, &r, "seed", now)?;
    }
    Ok(())
}
