//! Child process for the re-encryption SIGKILL tests: on the store in `GW_DIR`, migrates a
//! plain store (`GW_OP=migrate`: opens it with `GW_NEW_KEY`) or rekeys an encrypted one
//! (`GW_OP=rekey`: opens it with `GW_OLD_KEY`, rekeys to `GW_NEW_KEY`); keys are 64 hex
//! digits. With `GRIDWORKER_FAILPOINT=name` it kills itself with SIGKILL at that step.

use gridworker_core::{Config, DatabaseKey, GridWorker};

fn main() -> anyhow::Result<()> {
    let dir = std::env::var("GW_DIR")?;
    let new_key = DatabaseKey::from_hex(&std::env::var("GW_NEW_KEY")?)?;
    let mut config = Config::new(&dir, "http://127.0.0.1:9", "w-0001", "dev-A");
    match std::env::var("GW_OP")?.as_str() {
        "migrate" => {
            config.key = Some(new_key);
            drop(GridWorker::open(config)?);
        }
        "rekey" => {
            config.key = Some(DatabaseKey::from_hex(&std::env::var("GW_OLD_KEY")?)?);
            drop(GridWorker::open(config)?.rekey(new_key)?);
        }
        other => anyhow::bail!("unknown GW_OP {other}"),
    }
    println!("done");
    Ok(())
}
