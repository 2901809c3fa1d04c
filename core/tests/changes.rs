//! Issue 16, item 2 in the core: a committed write tells the observers of its kinds once,
//! after the commit; a write that fails (rolled back) tells nobody; other kinds are not told.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridworker_core::worker::{ChangeKind, ChangeObserver};
use support::Env;

#[derive(Default)]
struct Calls(Mutex<Vec<Vec<ChangeKind>>>);

impl ChangeObserver for Calls {
    fn on_change(&self, kinds: &[ChangeKind]) {
        self.0.lock().unwrap().push(kinds.to_vec());
    }
}

fn settle() {
    std::thread::sleep(Duration::from_millis(200));
}

/// Waits (at most 10 s) until `calls` holds `n` calls: on a loaded machine the notifier
/// thread may run later than a fixed sleep.
fn wait_len(calls: &Calls, n: usize) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while calls.0.lock().unwrap().len() < n && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn committed_writes_tell_their_kinds_and_rolled_back_ones_nobody() {
    let env = Env::new();
    let checkins = Arc::new(Calls::default());
    let everything = Arc::new(Calls::default());
    let id = env.core.observe(&[ChangeKind::CheckIns], checkins.clone());
    env.core.observe(&[], everything.clone());
    assert_eq!(env.core.observers(), 2);

    // Refused inside the transaction (unknown point): rolled back, nobody told.
    let fix = env.fix_at(env.point("P11").position);
    assert!(env.core.check_in("no-such-point", &fix).is_err());
    settle();
    assert!(everything.0.lock().unwrap().is_empty());

    env.core.check_in("P11", &fix).unwrap();
    wait_len(&checkins, 1);
    wait_len(&everything, 1);
    settle();
    assert_eq!(*checkins.0.lock().unwrap(), [vec![ChangeKind::CheckIns]]);
    let all = everything.0.lock().unwrap().clone();
    assert_eq!(all.len(), 1);
    assert!(all[0].contains(&ChangeKind::CheckIns) && all[0].contains(&ChangeKind::SyncCounts));
    assert!(!all[0].contains(&ChangeKind::Visits));

    env.core.unobserve(id);
    env.core
        .check_in("P12", &env.fix_at(env.point("P12").position))
        .unwrap();
    wait_len(&everything, 2);
    settle();
    assert_eq!(checkins.0.lock().unwrap().len(), 1, "told after unobserve");
    assert_eq!(everything.0.lock().unwrap().len(), 2);
}
