//! `gridworker`: the QA command line over the gridworker core.
//!
//! The contract QA scripts rely on (flags, JSON shapes, exit codes) is in `args` and
//! `error`; each subcommand group lives in its own module.

mod args;
mod conformance;
mod demo;
mod error;
mod home;
mod key;
mod maintenance;
mod map;
mod output;
mod query;
mod record;
mod residents;
mod scenario;
mod server;
mod sync;
mod track;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::error::{CliError, Kind};
use crate::output::Output;

fn run(cli: &Cli) -> Result<Output, CliError> {
    let home = home::resolve(cli.home.as_deref(), cli.key_file.as_deref())?;
    match &cli.command {
        Command::Init(a) => record::init(&home, a),
        Command::Seed(a) => record::seed(&home, a),
        Command::Checkin(a) => record::checkin(&home, a),
        Command::Visit(a) => record::visit(&home, a),
        Command::Report(a) => record::report(&home, a),
        Command::Sync(a) => sync::sync(&home, a, cli.json),
        Command::Status => query::status(&home),
        Command::List(a) => query::list(&home, a),
        Command::Progress(a) => query::progress(&home, a),
        Command::Nearby(a) => query::nearby(&home, a),
        Command::Coords(a) => query::coords(a),
        Command::Map(a) => map::map(&home, a),
        Command::Scenario(a) => scenario::run(a, home.key.clone()),
        Command::Demo(a) => demo::run(a),
        Command::Recover => maintenance::recover(&home),
        Command::Wipe(a) => maintenance::wipe(&home, a),
        Command::Rekey(a) => maintenance::rekey(&home, a),
        Command::Conformance(a) => conformance::run(a),
        Command::Patrol(a) => track::patrol(&home, a),
        Command::Track(a) => track::track(&home, a),
        Command::Household(a) => residents::household(&home, a),
        Command::Resident(a) => residents::resident(&home, a),
        Command::Conflicts(a) => residents::conflicts(&home, a),
        Command::Conflict(a) => residents::conflict(&home, a),
    }
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                let code = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                };
                std::process::exit(code);
            }
            // Parsing failed, so --json must be spotted by hand to honour the contract.
            let as_json = std::env::args_os().any(|a| a == "--json");
            let text = e.to_string();
            // clap's first line carries the reason; the rest is usage help.
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
            let msg = first.trim().trim_start_matches("error: ");
            output::print_error(&CliError::new(Kind::InvalidInput, msg), as_json);
            std::process::exit(Kind::InvalidInput.exit_code());
        }
    };
    match run(&cli) {
        Ok(out) => {
            output::print(&out, cli.json);
            if let Some(f) = out.failure {
                output::print_error(&f, false);
                std::process::exit(f.kind.exit_code());
            }
        }
        Err(e) => {
            output::print_error(&e, cli.json);
            std::process::exit(e.kind.exit_code());
        }
    }
}
