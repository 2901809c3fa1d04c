//! `scenario`: replays a scenario file and reports on it.

use crate::args::ScenarioArgs;
use crate::error::{CliError, CliResult};
use crate::output::Output;

pub fn run(_a: &ScenarioArgs) -> CliResult<Output> {
    Err(CliError::internal(
        "scenario replay is not available in this build yet",
    ))
}
