//! `demo`: the whole story against an in-process reference server.

use crate::args::DemoArgs;
use crate::error::{CliError, CliResult};
use crate::output::Output;

pub fn run(_a: &DemoArgs) -> CliResult<Output> {
    Err(CliError::internal(
        "demo is not available in this build yet",
    ))
}
