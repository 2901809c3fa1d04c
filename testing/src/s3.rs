//! An S3-compatible photo store for tests: when `GRIDWORKER_TEST_PHOTOS` names a bucket
//! (`s3://BUCKET?endpoint=http://127.0.0.1:PORT`, as `scripts/with-s3.sh` sets it), every
//! test server keeps its photos there, each under a prefix of its own.

/// `s3://BUCKET?endpoint=URL`, or unset for the local directory.
pub const PHOTOS_ENV: &str = "GRIDWORKER_TEST_PHOTOS";

/// Whether the tests keep photos in a bucket.
pub fn selected() -> bool {
    std::env::var(PHOTOS_ENV).is_ok_and(|v| !v.is_empty())
}

/// A fresh place in the bucket for one test server (`--photos` syntax), or `None` for the
/// local default.
pub fn photos_spec() -> Option<String> {
    let spec = std::env::var(PHOTOS_ENV).ok().filter(|v| !v.is_empty())?;
    let prefix = uuid::Uuid::now_v7().simple().to_string();
    Some(match spec.split_once('?') {
        Some((location, query)) => format!("{}/{prefix}?{query}", location.trim_end_matches('/')),
        None => format!("{}/{prefix}", spec.trim_end_matches('/')),
    })
}
