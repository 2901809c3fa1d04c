//! `recover`, `wipe` and `rekey`: the store's maintenance commands. The first two work on a
//! store that cannot (or must not) be open; `rekey` replaces the database file.

use serde_json::json;

use std::sync::Arc;

use crate::args::{RekeyArgs, WipeArgs};
use crate::error::{CliError, CliResult};
use crate::home::Home;
use crate::output::Output;

/// Salvages a damaged store (exit 0 with counts; a healthy store is left as it is).
pub fn recover(home: &Home) -> CliResult<Output> {
    home.load()?;
    let r = gridworker_core::recover_store(&home.data_dir(), home.key.as_ref())?;
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

/// Re-encrypts the store under `--new-key-file` (the current key, if any, as on any command).
/// A plain store becomes encrypted. A kill at any point leaves a store that opens with the
/// old key or the new one.
pub fn rekey(home: &Home, args: &RekeyArgs) -> CliResult<Output> {
    let cfg = home.load()?;
    let new_key = crate::key::read_file(&args.new_key_file, "--new-key-file")?;
    if home.key.as_ref() == Some(&new_key) {
        return Err(CliError::invalid(
            "--new-key-file holds the store's current key: nothing to do",
        ));
    }
    let was_encrypted = home.key.is_some();
    let gw = home.open(&cfg, Arc::new(gridworker_core::SystemClock))?;
    drop(gw.rekey(new_key)?);
    let human = if was_encrypted {
        "re-encrypted the store under the new key; the old key no longer opens it"
    } else {
        "encrypted the plain store under the new key"
    };
    Ok(Output::new(
        json!({"rekeyed": true, "was_encrypted": was_encrypted}),
        human.to_string(),
    ))
}
