//! Sync benchmarks (filled in below).
fn main() {}
