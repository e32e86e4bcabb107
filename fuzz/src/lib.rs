//! What the fuzz targets share: files they read through hb (key files,
//! target files), and keys to sign with.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hb::auth::{Codec, Keys};

/// A file that only its owner may read (as a key file must be), for hb to
/// read by path, which leaves nothing behind: created in memory where there
/// is a tmpfs (written for every input, a file on disk makes a target
/// about 20 times slower), unlinked at once, and named by its descriptor
/// under /proc/self/fd for as long as this value lives.
pub struct Scratch {
    _file: File,
    path: PathBuf,
}

impl Scratch {
    pub fn create() -> Self {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        };
        let created = dir.join(format!("hb-fuzz-{}-{:x}", std::process::id(), next_id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&created)
            .expect("creating a scratch file");
        std::fs::remove_file(&created).expect("unlinking a scratch file");
        let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        Scratch { _file: file, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file's contents.
    pub fn write(&self, contents: &[u8]) {
        std::fs::write(&self.path, contents).expect("writing a scratch file");
    }
}

/// A number no other scratch file of this process has.
fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The keys of a key file holding `text`.
pub fn keys(text: &str) -> Keys {
    let file = Scratch::create();
    file.write(text.as_bytes());
    Keys::load(file.path()).expect("a valid key file")
}

/// A codec that signs and verifies with one key, or none.
pub fn codec(keyed: bool) -> Codec {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    let key = KEYS.get_or_init(|| keys("fuzzing-key-of-the-targets\n"));
    Codec::new(keyed.then(|| key.clone()))
}
