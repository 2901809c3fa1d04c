//! `sync`: one full run of the core's sync engine.

use crate::args::SyncArgs;
use crate::error::{CliError, CliResult};
use crate::home::Home;
use crate::output::Output;

pub fn sync(_home: &Home, _a: &SyncArgs, _json: bool) -> CliResult<Output> {
    Err(CliError::internal(
        "sync is not available in this build yet",
    ))
}
