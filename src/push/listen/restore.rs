//! The `--state` file read back at start: a restart forgets nothing.
//!
//! Only what the listener could have written is read: a regular file (a
//! FIFO would block the start forever, a device such as `/dev/zero` would
//! be read until memory runs out), named by the path itself rather than
//! reached through a link (the writer replaces a link by the file at its
//! first write anyway), and no larger than a state file of the nodes
//! `--max-nodes` allows can be. Anything else is refused with a line on stderr, and the
//! listener starts without it.

use std::collections::HashMap;
use std::fs::{File, FileType, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use serde::Deserialize;

use crate::clock::Moment;
use crate::detector::{Detector, Restored};

/// What one node can take in a state file, with room to spare (about
/// twice its most): its name twice (in its list and as its key, escaped),
/// its last beat's health and checks (at most a recorded line,
/// [`crate::wire::MAX_LINE`] bytes), its boot, an away reason, a job's stderr, and its fixed fields.
const MAX_BYTES_PER_NODE: u64 = 8 * 1024;

/// What the rest of a state file can take: its counters, a quorum group's
/// peers, the listener's own record.
const MAX_BYTES_BESIDE_NODES: u64 = 1024 * 1024;

/// The largest state file a listener tracking at most `nodes` nodes reads
/// back.
fn max_state_bytes(nodes: usize) -> u64 {
    (nodes as u64)
        .saturating_mul(MAX_BYTES_PER_NODE)
        .saturating_add(MAX_BYTES_BESIDE_NODES)
}

/// Why a state file was not read.
#[derive(Debug)]
enum Refused {
    /// Not a regular file: what it is.
    NotAFile(&'static str),
    /// A symbolic link, wherever it leads.
    Link,
    /// Larger than `cap` bytes.
    TooLarge { cap: u64 },
    /// Opening or reading it failed.
    Unreadable(io::Error),
}

/// What a state file holds that a restart needs: its nodes.
#[derive(Deserialize)]
struct StateFile {
    nodes: HashMap<String, Restored>,
}

/// Tracks again the nodes of the state file at `path` (see
/// [`Detector::restore`]), at `at`, and
/// says on stderr what it did. A missing file is a first start. A file
/// that is not a state file (or one too large to be one) is reported and
/// set aside (renamed beside it, so the next write does not destroy what
/// an operator may want to look at); anything but a regular file is
/// reported and left for the first write to replace. Never fatal: the
/// listener starts without it.
pub fn restore_state(path: &Path, detector: &mut Detector, at: Moment) {
    let shown = path.display();
    let cap = max_state_bytes(detector.most_nodes());
    let text = match read_state(path, cap) {
        Ok(Some(text)) => text,
        Ok(None) => return,
        Err(refused) => {
            let why = match refused {
                Refused::TooLarge { cap } => format!(
                    "{shown} is larger than a state file can be with this --max-nodes ({cap} bytes); {}",
                    set_aside(path, at)
                ),
                Refused::NotAFile(what) => format!("{shown} is {what}, not a regular file"),
                Refused::Link => format!("{shown} is a symbolic link, not a regular file"),
                Refused::Unreadable(e) => format!("reading {shown}: {e}"),
            };
            crate::say!("warning: {why}; starting without it");
            return;
        }
    };
    let file = match serde_json::from_slice::<StateFile>(&text) {
        Ok(file) => file,
        Err(e) => {
            let moved = set_aside(path, at);
            crate::say!("warning: {shown} is not a state file ({e}); {moved}; starting without it");
            return;
        }
    };
    drop(text);
    let mut refused = 0;
    for (name, node) in &file.nodes {
        if detector.restore(name, node, at).is_err() {
            refused += 1;
        }
    }
    let tracked = file.nodes.len() - refused;
    match refused {
        0 => crate::say!("{shown}: {tracked} nodes tracked again"),
        _ => crate::say!(
            "{shown}: {tracked} nodes tracked again, {refused} refused (a bad name or interval, or over --max-nodes)"
        ),
    }
    drop(file);
    crate::export::release_freed();
}

/// The bytes of the regular file at `path`, at most `cap` of them; None
/// when there is no file. The path is opened without following a link and
/// without blocking (a FIFO's open waits for a writer otherwise), and what
/// was opened is looked at before a byte is read.
fn read_state(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, Refused> {
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(Refused::Link),
        Err(e) => return Err(Refused::Unreadable(e)),
    };
    let meta = file.metadata().map_err(Refused::Unreadable)?;
    if !meta.is_file() {
        return Err(Refused::NotAFile(kind_of(meta.file_type())));
    }
    if meta.len() > cap {
        return Err(Refused::TooLarge { cap });
    }
    read_at_most(file, cap).map(Some)
}

/// What a file that is not a regular one is, as stderr names it.
fn kind_of(kind: FileType) -> &'static str {
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "something else"
    }
}

/// Reads `file` to its end, if that is within `cap` bytes: a file that
/// grew past it since it was measured is refused all the same.
fn read_at_most(file: File, cap: u64) -> Result<Vec<u8>, Refused> {
    let mut text = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut text)
        .map_err(Refused::Unreadable)?;
    match text.len() as u64 > cap {
        true => Err(Refused::TooLarge { cap }),
        false => Ok(text),
    }
}

/// Renames the file at `path` beside it, out of the next write's way;
/// says how that went.
fn set_aside(path: &Path, at: Moment) -> String {
    let aside = path.with_extension(format!("corrupt.{}", at.wall));
    match std::fs::rename(path, &aside) {
        Ok(()) => format!("set aside as {}", aside.display()),
        Err(e) => format!("could not be set aside ({e})"),
    }
}

#[cfg(test)]
mod tests;
