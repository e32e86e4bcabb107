//! Waiting for something the test cannot be told about, such as a file
//! another process writes, by looking again until it is there.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// How long to sleep between two looks: short next to the rewrite
/// periods the tests set (20 ms and up), long enough not to spin.
const POLL: Duration = Duration::from_millis(10);

/// Calls `check` until it gives a value, and returns that value. Panics
/// (at the caller's line) if none comes within `timeout`, saying that it
/// waited for `what`.
#[track_caller]
pub fn wait_for<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    match poll(timeout, check) {
        Some(found) => found,
        None => panic!("waited {timeout:?} for {what}, in vain"),
    }
}

/// The text of the file at `path` once `pred` holds for it (a file not
/// there yet, or unreadable, is looked at again). Panics (at the caller's
/// line) if that does not happen within `timeout`, saying what it waited
/// for and what it read last.
#[track_caller]
pub fn wait_for_file(
    path: &Path,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    let mut last = String::from("nothing yet");
    let found = poll(timeout, || match std::fs::read_to_string(path) {
        Ok(text) if pred(&text) => Some(text),
        Ok(text) => {
            last = text;
            None
        }
        Err(e) => {
            last = e.to_string();
            None
        }
    });
    match found {
        Some(text) => text,
        None => panic!(
            "waited {timeout:?} for {} to show {what}, in vain; last read: {last}",
            path.display()
        ),
    }
}

/// What `check` gave first, or None once `timeout` has passed.
fn poll<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(POLL);
    }
}
