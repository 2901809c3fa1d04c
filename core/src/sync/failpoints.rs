//! Crash points for the SIGKILL tests (feature `failpoints` only). The environment variable
//! `GRIDWORKER_FAILPOINT=name[:n]` makes the process SIGKILL itself the n-th time (default
//! first) it reaches the named point, so tests can stop the client at an exact protocol step.

use std::sync::Mutex;

static HITS: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());

/// Kills the process if `name` is the armed point and its count is reached.
pub fn hit(name: &str) {
    let Ok(spec) = std::env::var("GRIDWORKER_FAILPOINT") else {
        return;
    };
    let (armed, n) = match spec.split_once(':') {
        Some((a, n)) => (a.to_string(), n.parse::<u32>().unwrap_or(1)),
        None => (spec.clone(), 1),
    };
    if armed != name {
        return;
    }
    let mut hits = HITS.lock().unwrap_or_else(|p| p.into_inner());
    let count = match hits.iter_mut().find(|(k, _)| k == name) {
        Some(entry) => {
            entry.1 += 1;
            entry.1
        }
        None => {
            hits.push((name.to_string(), 1));
            1
        }
    };
    if count >= n {
        eprintln!("failpoint {name}: SIGKILL");
        // SIGKILL, not abort: no destructor, no flush, exactly what the OS does to an app.
        let _ = std::process::Command::new("kill")
            .arg("-KILL")
            .arg(std::process::id().to_string())
            .status();
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}
