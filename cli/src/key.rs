//! The store key, as the CLI contract gives it: `--key-file FILE` (32 raw bytes or 64 hex
//! digits) on any command, else `GRIDWORKER_KEY` (64 hex digits) in the environment. Never
//! a plain flag value: command lines are visible to every user of the machine (`ps`).
//! `GRIDWORKER_KEY` set but empty or blank is refused, not read as "no key".
//! Errors name the source, never the bytes.

use std::path::Path;

use gridworker_core::DatabaseKey;
use zeroize::Zeroizing;

use crate::error::{CliError, CliResult};

/// The environment variable that may hold the key.
pub const ENV: &str = "GRIDWORKER_KEY";

/// The key of this invocation, if one was given. The flag wins over the environment, as
/// flags do.
pub fn resolve(key_file: Option<&Path>) -> CliResult<Option<DatabaseKey>> {
    if let Some(path) = key_file {
        return read_file(path, "--key-file").map(Some);
    }
    match std::env::var(ENV) {
        // Set but blank is almost always an unset variable expanded in a script: taking it
        // as "no key" would quietly make a plain store of residents' data.
        Ok(text) if text.trim().is_empty() => Err(CliError::invalid(format!(
            "{ENV} is set but empty: give 64 hex digits, or unset it for no key"
        ))),
        Ok(text) => DatabaseKey::from_hex(&text)
            .map(Some)
            .map_err(|_| CliError::invalid(format!("{ENV} must be 64 hex digits"))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(CliError::invalid(format!("{ENV} must be 64 hex digits")))
        }
    }
}

/// Reads a key file: exactly 32 bytes are the raw key; anything else must be 64 hex digits
/// (whitespace around and between them allowed, so `echo`- and `xxd -p`-made files work).
pub fn read_file(path: &Path, flag: &str) -> CliResult<DatabaseKey> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
        CliError::invalid(format!(
            "{flag} {}: cannot read: {}",
            path.display(),
            e.kind()
        ))
    })?);
    let bad = || {
        CliError::invalid(format!(
            "{flag} {}: must hold 32 raw bytes or 64 hex digits",
            path.display()
        ))
    };
    if bytes.len() == 32 {
        return DatabaseKey::from_slice(&bytes).map_err(|_| bad());
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
    // Whitespace anywhere: `xxd -p` wraps the 64 digits over two lines.
    let digits: Zeroizing<String> =
        Zeroizing::new(text.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    DatabaseKey::from_hex(&digits).map_err(|_| bad())
}

/// Writes `key` as hex to a new owner-only file (the demo's key).
pub fn write_new_file(path: &Path, key: &DatabaseKey) -> CliResult<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(key.to_hex().as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(())
}
