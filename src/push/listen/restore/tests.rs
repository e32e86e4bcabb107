//! Only a regular file, within its cap, is read back: a FIFO, a device, a
//! link or a file too large is refused before a byte is read, without
//! blocking.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use super::*;
use crate::push::listen::tests::scratch_dir;

#[test]
fn a_missing_file_is_a_first_start() {
    let dir = scratch_dir("restore-missing");
    assert!(matches!(
        read_state(&dir.join("state.json"), 1024),
        Ok(None)
    ));
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let path = scratch_dir("restore-fifo").join("state.json");
    let name = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo reads the NUL-terminated path it is given, which
    // lives until the call returns.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    assert!(matches!(
        read_state(&path, 1024),
        Err(Refused::NotAFile("a FIFO"))
    ));
}

#[test]
fn a_link_is_refused_wherever_it_leads() {
    let dir = scratch_dir("restore-link");
    let path = dir.join("state.json");
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    assert!(matches!(read_state(&path, 1024), Err(Refused::Link)));
    let file = dir.join("elsewhere.json");
    std::fs::write(&file, "{\"nodes\":{}}").unwrap();
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&file, &path).unwrap();
    assert!(matches!(read_state(&path, 1024), Err(Refused::Link)));
}

#[test]
fn a_device_or_a_directory_is_refused() {
    let refused = read_state(Path::new("/dev/null"), 1024);
    assert!(matches!(
        refused,
        Err(Refused::NotAFile("a character device"))
    ));
    let dir = scratch_dir("restore-dir");
    assert!(matches!(
        read_state(&dir, 1024),
        Err(Refused::NotAFile("a directory"))
    ));
}

/// A file over the cap is refused by its size, before it is read (a
/// sparse terabyte costs nothing); one at the cap is read whole.
#[test]
fn a_file_over_the_cap_is_refused_unread() {
    let path = scratch_dir("restore-cap").join("state.json");
    let file = File::create(&path).unwrap();
    file.set_len(1 << 40).unwrap();
    assert!(matches!(
        read_state(&path, 1 << 20),
        Err(Refused::TooLarge { cap: 1_048_576 })
    ));
    file.set_len(16).unwrap();
    assert_eq!(read_state(&path, 16).unwrap().unwrap().len(), 16);
    assert!(matches!(
        read_state(&path, 15),
        Err(Refused::TooLarge { cap: 15 })
    ));
}

#[test]
fn the_cap_grows_with_the_nodes() {
    assert_eq!(max_state_bytes(0), 1 << 20);
    assert_eq!(max_state_bytes(100_000), (1 << 20) + 100_000 * 8192);
    assert_eq!(max_state_bytes(usize::MAX), u64::MAX);
}

/// A file too large for the node limit is set aside, as a corrupt one is,
/// and the listener starts with no node of it.
#[test]
fn a_file_too_large_for_the_node_limit_is_set_aside() {
    let dir = scratch_dir("restore-too-large");
    let path = dir.join("state.json");
    File::create(&path).unwrap().set_len(1 << 30).unwrap();
    let mut detector = crate::push::listen::tests::listener().detector;
    restore_state(&path, &mut detector, Moment::new(0, 1234));
    assert!(detector.is_empty());
    assert!(!path.exists());
    let aside = dir.join("state.corrupt.1234");
    assert_eq!(std::fs::metadata(aside).unwrap().len(), 1 << 30);
}
