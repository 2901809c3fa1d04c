#![no_main]

use std::sync::OnceLock;

use gridworker_fuzz::bodies::{Store, apply_page};

// One store per fuzzing process: opening SQLite per input would dominate the run.
static STORE: OnceLock<Store> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let store = STORE.get_or_init(|| Store::new().expect("temporary store"));
    let _ = apply_page(store, data);
});
