#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = gridworker_fuzz::bodies::handshake(data);
});
