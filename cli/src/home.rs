//! The device home (`--home`): a small config file written by `init`, and the core's data
//! directory beside it. Opening the core always goes through here, with the clock the
//! command asks for.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use gridworker_core::{Clock, Config, DatabaseKey, GridWorker};
use serde::{Deserialize, Serialize};

use crate::error::{CliError, CliResult};

/// File name of the CLI's config inside the home.
pub const CONFIG_FILE: &str = "gridworker-cli.json";
/// The core's data directory inside the home.
pub const DATA_DIR: &str = "data";

/// What `init` writes. The token is stored in clear text: QA tokens only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HomeConfig {
    pub server: String,
    pub worker: String,
    pub device: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub allow_http: bool,
    #[serde(default = "default_offset")]
    pub utc_offset_minutes: i32,
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Wall time the simulated monotonic clock counts from. Persisted so every command
    /// derives monotonic readings the same way (the "phone" never reboots between commands),
    /// which keeps the core's clock-jump check meaningful across invocations.
    #[serde(default = "default_boot_base")]
    pub boot_base: DateTime<Utc>,
}

fn default_offset() -> i32 {
    480
}

/// Far enough back that any realistic `--at` gives a positive monotonic reading.
pub fn default_boot_base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

impl HomeConfig {
    /// The simulated monotonic reading (ms) for a fix taken at true time `at`.
    pub fn monotonic_ms(&self, at: DateTime<Utc>) -> i64 {
        (at - self.boot_base).num_milliseconds().max(0)
    }
}

/// A device home on disk, and the store key this invocation was given.
#[derive(Debug, Clone)]
pub struct Home {
    pub dir: PathBuf,
    pub key: Option<DatabaseKey>,
}

impl Home {
    pub fn new(dir: impl Into<PathBuf>, key: Option<DatabaseKey>) -> Self {
        Home {
            dir: dir.into(),
            key,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join(DATA_DIR)
    }

    /// Reads the config; a home without one was never initialised (bad `--home`: exit 2).
    pub fn load(&self) -> CliResult<HomeConfig> {
        let path = self.config_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CliError::invalid(format!(
                    "{} is not initialised (no {CONFIG_FILE}); run `gridworker init` first",
                    self.dir.display()
                )));
            }
            Err(e) => {
                return Err(CliError::internal(format!(
                    "reading {}: {e}",
                    path.display()
                )));
            }
        };
        // The shape of the error, not serde's text: it quotes values (the token).
        serde_json::from_str(&text).map_err(|e| {
            CliError::invalid(format!(
                "{} is not a valid config: {}",
                path.display(),
                gridworker_core::model::json_error_shape(&e)
            ))
        })
    }

    /// Writes the config (owner-only on Unix: it holds a token).
    pub fn save(&self, cfg: &HomeConfig) -> CliResult<()> {
        std::fs::create_dir_all(&self.dir)?;
        let text = serde_json::to_string_pretty(cfg)? + "\n";
        let path = self.config_path();
        let tmp = self.dir.join(format!("{CONFIG_FILE}.tmp"));
        std::fs::write(&tmp, text)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        }
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }

    /// Opens the core on this home with `clock`.
    pub fn open(&self, cfg: &HomeConfig, clock: Arc<dyn Clock>) -> CliResult<GridWorker> {
        let mut config = Config::new(self.data_dir(), &cfg.server, &cfg.worker, &cfg.device);
        config.utc_offset_minutes = cfg.utc_offset_minutes;
        config.time_zone = cfg.time_zone.clone();
        config.clock = clock;
        config.key = self.key.clone();
        Ok(GridWorker::open(config)?)
    }
}

/// A clock that always reads the same instant (`--at`).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A clock the scenario replay moves step by step.
#[derive(Debug, Default)]
pub struct SettableClock(Mutex<DateTime<Utc>>);

impl SettableClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        SettableClock(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

impl Clock for SettableClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Resolves `--home`: the flag, else `$GRIDWORKER_HOME` (clap fills it), else
/// `./.gridworker-home`; with the key of `--key-file` or `$GRIDWORKER_KEY`.
pub fn resolve(flag: Option<&Path>, key_file: Option<&Path>) -> CliResult<Home> {
    Ok(Home::new(
        flag.map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".gridworker-home")),
        crate::key::resolve(key_file)?,
    ))
}

/// A temporary directory for a throw-away device home.
pub fn scratch_dir(label: &str) -> CliResult<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("gridworker-{label}-"))
        .tempdir()
        .map_err(|e| CliError::internal(format!("creating a temporary directory: {e}")))
}
