//! The fuzz targets' bodies, shared with `core/tests/fuzz_corpus.rs` (which includes
//! `bodies.rs` by path) so that CI runs them over the seed corpus on stable Rust.

pub mod bodies;
