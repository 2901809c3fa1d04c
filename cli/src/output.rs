//! What a subcommand hands back, and how it reaches the terminal: JSON on stdout with
//! `--json`, a short human text otherwise; errors as one line on stderr (plus a JSON error
//! object on stdout with `--json`).

use serde_json::{Value, json};

use crate::error::CliError;

/// A command's result, in both forms; `main` prints the one asked for.
pub struct Output {
    pub json: Value,
    pub human: String,
    /// Set by commands that ran but must still fail (a scenario whose expectations failed):
    /// the output is printed, then the process exits with this error's code.
    pub failure: Option<CliError>,
}

impl Output {
    pub fn new(json: Value, human: impl Into<String>) -> Self {
        Output {
            json,
            human: human.into(),
            failure: None,
        }
    }
}

/// Writes a line to stdout. A reader that went away (`gridworker --json list | head`) is not
/// an error of ours: the process ends quietly with exit 0 instead of panicking in `println!`.
fn out_line(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("gridworker: error: cannot write output: {e}");
        std::process::exit(1);
    }
}

/// Prints a successful result.
pub fn print(out: &Output, as_json: bool) {
    if as_json {
        out_line(&serde_json::to_string_pretty(&out.json).unwrap_or_else(|_| "null".into()));
    } else if !out.human.is_empty() {
        out_line(out.human.trim_end());
    }
}

/// Prints an error: one line on stderr, and the error object on stdout with `--json`.
pub fn print_error(e: &CliError, as_json: bool) {
    eprintln!("gridworker: error: {}", e.message);
    if as_json {
        let v = json!({"error": {"kind": e.kind.code(), "message": e.message}});
        out_line(&v.to_string());
    }
}

/// Rounds to `digits` decimals for display (coordinates to 7, distances to 1).
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}
