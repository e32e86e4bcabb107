//! Temporary files for the tests, removed when the test is done with them.
//!
//! Shared by the `it` test binary (through the harness) and by the
//! standalone `hot_path` test binary (through `#[path]`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A directory of one test's own under the system's temporary directory,
/// named after this process and a counter so that tests running at the
/// same time (in this process or in another) never share one. Removed with
/// everything in it on drop, also when the test fails.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("hb-test-{}-{n}", std::process::id()));
        // A leftover of a killed process that had the same id: its name is
        // ours now.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file `name` in this directory, written with `contents`.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// A key file with permission bits `mode` (the tools refuse a key file
    /// others may read).
    pub fn key_file(&self, name: &str, contents: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.file(name, contents);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
