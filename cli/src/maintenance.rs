//! `recover` and `wipe`: the store's maintenance commands. Neither opens the core: both work
//! on a store that cannot (or must not) be open.

use serde_json::json;

use crate::args::WipeArgs;
use crate::error::{CliError, CliResult};
use crate::home::Home;
use crate::output::Output;

/// Salvages a damaged store (exit 0 with counts; a healthy store is left as it is).
pub fn recover(home: &Home) -> CliResult<Output> {
    home.load()?;
    let r = gridworker_core::recover_store(&home.data_dir(), None)?;
    let human = if r.was_healthy {
        format!(
            "the store is healthy; nothing changed ({} records)",
            r.recovered
        )
    } else {
        let kept = r
            .kept_at
            .as_ref()
            .map(|p| format!("; damaged file kept at {}", p.display()))
            .unwrap_or_default();
        format!("recovered {} records, lost {}{kept}", r.recovered, r.lost)
    };
    Ok(Output::new(
        json!({
            "recovered": r.recovered,
            "lost": r.lost,
            "other_rows_recovered": r.other_rows_recovered,
            "other_rows_lost": r.other_rows_lost,
            "damaged_tables": r.damaged_tables,
            "kept_at": r.kept_at,
            "was_healthy": r.was_healthy,
        }),
        human,
    ))
}

/// Erases the core's files from the home's data directory; refuses without `--yes` (exit 2).
pub fn wipe(home: &Home, args: &WipeArgs) -> CliResult<Output> {
    if !args.yes {
        return Err(CliError::invalid(
            "wipe erases every record on this device, synced or not: pass --yes to confirm",
        ));
    }
    let dir = home.data_dir();
    gridworker_core::worker::wipe_data_dir(&dir)?;
    Ok(Output::new(
        json!({"wiped": dir}),
        format!("wiped {}", dir.display()),
    ))
}
