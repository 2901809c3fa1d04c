//! The photo store seen from the app: collecting unused files, reading a photo back.

use super::*;

impl GridWorker {
    /// Removes photo files nobody needs any more (their records synced, or drafts deleted),
    /// and debris of killed processes. Returns how many files were removed.
    pub fn collect_photos(&self) -> Result<usize> {
        let dir = self.config.data_dir.clone();
        let offset: Option<i64> = self
            .store
            .read(|c| crate::store::state::get(c, crate::store::state::keys::CLOCK_OFFSET_MS))?;
        let now = crate::sync::restore::aging_now(self.config.clock.now(), offset);
        let n = self
            .store
            .write(|tx| photos::collect_garbage(tx, &dir, now))?;
        let m = self.store.read(|c| photos::sweep_orphans(c, &dir))?;
        Ok(n + m)
    }

    /// Absolute path of a stored photo, if still on the device. Only a plain store hands
    /// out paths: a sealed file is ciphertext, so a store with a photo key answers
    /// `InvalidState` and the app reads photos with [`GridWorker::photo_bytes`].
    pub fn photo_path(&self, sha256: &str) -> Result<Option<PathBuf>> {
        validate::id("sha256", sha256)?;
        if self.photo_key.is_some() {
            return Err(Error::InvalidState {
                what: "photo store",
                state: "sealed".into(),
                reason: "photo files are encrypted: read them with photo_bytes".into(),
            });
        }
        self.store
            .read(|c| photos::path_of(c, &self.config.data_dir, sha256))
    }

    /// The plaintext bytes of a stored photo (for display), if still on the device; works
    /// on sealed and plain stores. Bounded by the policy's photo limit (at least the default
    /// 20 MB), so the app never allocates more than one photo. A file that is
    /// damaged, truncated or not the photo it is named after is `PhotoSealBroken`.
    pub fn photo_bytes(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        validate::id("sha256", sha256)?;
        let max = self
            .policy()?
            .max_photo_bytes
            .max(crate::policy::ValidationPolicy::default().max_photo_bytes);
        // The file is read outside the store's reader lock: a photo is megabytes.
        let Some(path) = self
            .store
            .read(|c| photos::path_of(c, &self.config.data_dir, sha256))?
        else {
            return Ok(None);
        };
        photos::read_bytes(&path, sha256, self.photo_keys(), max)
    }
}
