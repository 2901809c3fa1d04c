//! Test tools shared by the workspace's tests and benchmarks, and by `gridworker
//! conformance` (a QA tool), never by the product crates (core, bindings, server):
//!
//! - [`fault_proxy`]: an HTTP/1.1 proxy on 127.0.0.1 that injects network faults and counts
//!   bytes, between a real client and the real server;
//! - [`alloc`]: a counting global allocator, for memory budgets;
//! - [`clock`]: a clock the test moves by hand;
//! - [`dirs`]: copying and emptying a server's data directory (backup, restore, wipe);
//! - [`admin`]: the reference server's admin API, for tests that check what the server
//!   holds;
//! - [`postgres`]: a fresh PostgreSQL database per test server, for the conformance run;
//! - [`s3`]: a fresh place in an S3-compatible bucket per test server, when the run asks
//!   for one;
//! - [`photos`]: real JPEGs, tiny ones of an exact size and 12 MP camera-like ones with
//!   phone EXIF;
//! - [`scripted`]: a scripted device that chains mutations like the core's outbox and speaks
//!   the protocol over HTTP, for tests that send what a phone would or could never send.

pub mod admin;
pub mod alloc;
pub mod clock;
pub mod dirs;
pub mod fault_proxy;
pub mod photos;
pub mod postgres;
pub mod s3;
pub mod scripted;
