//! Child process for the SIGKILL tests (filled in below).
fn main() {}
