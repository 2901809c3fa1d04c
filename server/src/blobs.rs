//! Where photo bytes live: a directory (the default, `data/photos`) or an S3-compatible
//! bucket, both through `object_store`, so every node of a deployment sees the same bytes.
//!
//! Keys: `{sha}` for a complete photo (content-addressed, written once, after its hash was
//! checked) and `partial/{sha}.{owner}.{offset}.{nonce}` for one request's part of an
//! upload. Which parts count is said by the database (`photo_parts`), never by a listing:
//! an object a crash or a lost race left behind is swept, not read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::path::Path as Key;
use object_store::{ObjectStore, WriteMultipart};

/// Where photos are kept, as given by `--photos`.
#[derive(Clone, PartialEq, Eq)]
pub enum PhotoStorage {
    /// A directory; `None` is `photos/` in the data directory.
    Local(Option<PathBuf>),
    /// An S3-compatible bucket. Credentials come from the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), never from the
    /// command line, where `ps` shows them.
    S3(S3Location),
}

/// `s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION]`.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

impl std::fmt::Debug for PhotoStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl PhotoStorage {
    /// Parses `file:DIR` or `s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION]`.
    pub fn parse(spec: &str) -> std::result::Result<PhotoStorage, String> {
        if let Some(dir) = spec.strip_prefix("file:") {
            if dir.is_empty() {
                return Err("--photos file:DIR needs a directory".into());
            }
            return Ok(PhotoStorage::Local(Some(PathBuf::from(dir))));
        }
        let Some(rest) = spec.strip_prefix("s3://") else {
            return Err("--photos must be file:DIR or s3://BUCKET[/PREFIX][?endpoint=URL]".into());
        };
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = match location.split_once('/') {
            Some((b, p)) => (
                b,
                Some(p.trim_matches('/').to_string()).filter(|p| !p.is_empty()),
            ),
            None => (location, None),
        };
        if bucket.is_empty() {
            return Err("--photos s3:// needs a bucket name".into());
        }
        let mut out = S3Location {
            bucket: bucket.to_string(),
            prefix,
            endpoint: None,
            region: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("endpoint", v)) if !v.is_empty() => out.endpoint = Some(v.to_string()),
                Some(("region", v)) if !v.is_empty() => out.region = Some(v.to_string()),
                _ => {
                    return Err(
                        "--photos s3:// takes only endpoint= and region= (credentials come from AWS_* variables)"
                            .into(),
                    );
                }
            }
        }
        Ok(PhotoStorage::S3(out))
    }

    /// For logs: the place, never a credential.
    pub fn describe(&self) -> String {
        match self {
            PhotoStorage::Local(None) => "file:<data>/photos".to_string(),
            PhotoStorage::Local(Some(d)) => format!("file:{}", d.display()),
            PhotoStorage::S3(s) => format!(
                "s3://{}{}{}",
                s.bucket,
                s.prefix
                    .as_ref()
                    .map(|p| format!("/{p}"))
                    .unwrap_or_default(),
                s.endpoint
                    .as_ref()
                    .map(|e| format!(" at {e}"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// A photo store failed; the message names the operation, not the bytes.
#[derive(Debug, thiserror::Error)]
#[error("photo store: {0}")]
pub struct BlobError(String);

impl From<object_store::Error> for BlobError {
    fn from(e: object_store::Error) -> Self {
        BlobError(e.to_string())
    }
}

impl From<std::io::Error> for BlobError {
    fn from(e: std::io::Error) -> Self {
        BlobError(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, BlobError>;

/// S3 parts other than the last must be at least 5 MiB.
const S3_CHUNK: usize = 5 * 1024 * 1024;
/// A local write needs no minimum; a smaller buffer keeps memory per upload low.
const LOCAL_CHUNK: usize = 256 * 1024;
/// Chunks of one upload in flight to the store at once.
const IN_FLIGHT: usize = 2;

/// The photo store of a server.
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// The directory, for the local store: its writes are fsynced before the database
    /// counts them (object_store's local backend does not), and its sweep sees the staging
    /// files a crash leaves.
    local_root: Option<PathBuf>,
    chunk: usize,
}

impl Blobs {
    /// Opens the store; a local directory is created private (0700).
    pub fn open(storage: &PhotoStorage, data_dir: &Path) -> Result<Blobs> {
        match storage {
            PhotoStorage::Local(dir) => {
                let root = dir.clone().unwrap_or_else(|| data_dir.join("photos"));
                crate::db::private_dir(&root)?;
                crate::db::private_dir(&root.join("partial"))?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&root)?
                    .with_automatic_cleanup(false);
                Ok(Blobs {
                    store: Arc::new(store),
                    local_root: Some(root),
                    chunk: LOCAL_CHUNK,
                })
            }
            PhotoStorage::S3(s3) => {
                let mut b =
                    object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&s3.bucket);
                if let Some(e) = &s3.endpoint {
                    b = b
                        .with_endpoint(e)
                        .with_allow_http(e.starts_with("http://"))
                        // Self-hosted S3 servers (MinIO, Ceph RGW, …) address buckets by path.
                        .with_virtual_hosted_style_request(false);
                }
                if let Some(r) = &s3.region {
                    b = b.with_region(r);
                }
                let store: Arc<dyn ObjectStore> = Arc::new(b.build()?);
                let store: Arc<dyn ObjectStore> = match &s3.prefix {
                    Some(p) => Arc::new(object_store::prefix::PrefixStore::new(store, p.as_str())),
                    None => store,
                };
                Ok(Blobs {
                    store,
                    local_root: None,
                    chunk: S3_CHUNK,
                })
            }
        }
    }

    pub fn complete_key(sha: &str) -> Key {
        Key::from(sha)
    }

    /// A fresh key for a part of `upload` (`{sha}.{owner}`) starting at `offset`.
    pub fn part_key(upload: &str, offset: u64) -> String {
        format!(
            "partial/{upload}.{offset:020}.{}",
            uuid::Uuid::now_v7().simple()
        )
    }

    /// Starts writing an object; nothing is visible under `key` until [`Writer::finish`].
    pub async fn writer(&self, key: &str) -> Result<Writer> {
        let upload = self.store.put_multipart(&Key::from(key)).await?;
        Ok(Writer {
            inner: WriteMultipart::new_with_chunk_size(upload, self.chunk),
            key: key.to_string(),
            local_root: self.local_root.clone(),
        })
    }

    pub async fn exists(&self, key: &Key) -> Result<bool> {
        match self.store.head(key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The bytes of an object, streamed.
    pub async fn read(&self, key: &Key) -> Result<BoxStream<'static, Result<Bytes>>> {
        let got = self.store.get(key).await?;
        Ok(got
            .into_stream()
            .map(|r| r.map_err(BlobError::from))
            .boxed())
    }

    /// Moves a part to be a complete photo (a rename on disk, copy and delete on S3).
    pub async fn promote(&self, part: &str, sha: &str) -> Result<()> {
        let to = Self::complete_key(sha);
        self.store.rename(&Key::from(part), &to).await?;
        self.sync_local(&to).await
    }

    /// Deletes an object; one already gone is fine.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&Key::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Objects under `partial/` with their last change, including (on disk) the staging
    /// files of writes a crash cut short.
    pub async fn list_partials(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        if let Some(root) = &self.local_root {
            let dir = root.join("partial");
            return tokio::task::spawn_blocking(move || -> Result<Vec<_>> {
                let mut out = Vec::new();
                for entry in std::fs::read_dir(&dir)? {
                    let entry = entry?;
                    let meta = entry.metadata()?;
                    if !meta.is_file() {
                        continue;
                    }
                    let at = meta.modified().map(DateTime::<Utc>::from)?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    out.push((format!("partial/{name}"), at));
                }
                Ok(out)
            })
            .await
            .map_err(|_| BlobError("listing task failed".into()))?;
        }
        let mut listing = self.store.list(Some(&Key::from("partial")));
        let mut out = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            out.push((meta.location.to_string(), meta.last_modified));
        }
        Ok(out)
    }

    /// Deletes a partial-area entry found by [`Blobs::list_partials`] (staging files too).
    pub async fn delete_listed(&self, key: &str) -> Result<()> {
        if let Some(root) = &self.local_root {
            let path = root.join(key);
            return match tokio::fs::remove_file(&path).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            };
        }
        self.delete(key).await
    }

    /// On disk, a written object must survive a power cut before the database counts it.
    async fn sync_local(&self, key: &Key) -> Result<()> {
        sync_local(self.local_root.as_deref(), key).await
    }
}

async fn sync_local(root: Option<&Path>, key: &Key) -> Result<()> {
    let Some(root) = root else { return Ok(()) };
    let path = root.join(key.as_ref());
    // object_store creates files with the process's umask; photos are personal data, and
    // every file the server writes is its own alone (the directory is 0700 meanwhile).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).await?;
    }
    tokio::fs::File::open(&path).await?.sync_all().await?;
    if let Some(dir) = path.parent()
        && let Ok(d) = tokio::fs::File::open(dir).await
    {
        // Not every filesystem can sync a directory; the file's own sync is what matters.
        let _ = d.sync_all().await;
    }
    Ok(())
}

/// One object being written, in chunks of bounded memory.
pub struct Writer {
    inner: WriteMultipart,
    key: String,
    local_root: Option<PathBuf>,
}

impl Writer {
    pub async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.inner.wait_for_capacity(IN_FLIGHT).await?;
        self.inner.write(bytes);
        Ok(())
    }

    /// Makes the object visible (and durable) under its key.
    pub async fn finish(self) -> Result<()> {
        self.inner.finish().await?;
        sync_local(self.local_root.as_deref(), &Key::from(self.key.as_str())).await
    }

    /// Drops what was written; nothing appears under the key.
    pub async fn abort(self) {
        if let Err(e) = self.inner.abort().await {
            tracing::warn!("abandoned photo write not cleaned up: {e}");
        }
    }
}
