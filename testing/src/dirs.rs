//! Directory copies for tests that back up, restore or wipe a server's data directory as a
//! district's operator would (the server stopped first).

use std::path::Path;

/// Copies `from` into `to` (created if missing), recursively. Panics on I/O errors: tests only.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let e = e.unwrap_or_else(|e| panic!("{e}"));
        let target = to.join(e.file_name());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap_or_else(|e| panic!("copy: {e}"));
        }
    }
}

/// Removes everything inside `dir`, keeping `dir` itself.
pub fn empty_dir(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let p = e.unwrap_or_else(|e| panic!("{e}")).path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap_or_else(|e| panic!("remove {}: {e}", p.display()));
        } else {
            std::fs::remove_file(&p).unwrap_or_else(|e| panic!("remove {}: {e}", p.display()));
        }
    }
}
