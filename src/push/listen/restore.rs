//! The `--state` file read back at start: a restart forgets nothing.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use serde::Deserialize;

use crate::clock::Moment;
use crate::detector::{Detector, Restored};

/// What a state file holds that a restart needs: its nodes.
#[derive(Deserialize)]
struct StateFile {
    nodes: HashMap<String, Restored>,
}

/// Tracks again the nodes of the state file at `path` (see
/// [`Detector::restore`]), at `at`, and
/// says on stderr what it did. A missing file is a first start. A file
/// that is not a state file is reported and set aside (renamed beside
/// it, so the next write does not destroy what an operator may want to
/// look at), never fatal: the listener starts without it.
pub fn restore_state(path: &Path, detector: &mut Detector, at: Moment) {
    let shown = path.display();
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            crate::say!("warning: reading {shown}: {e}; starting without it");
            return;
        }
    };
    let file = match serde_json::from_slice::<StateFile>(&text) {
        Ok(file) => file,
        Err(e) => {
            let aside = path.with_extension(format!("corrupt.{}", at.wall));
            let moved = match std::fs::rename(path, &aside) {
                Ok(()) => format!("set aside as {}", aside.display()),
                Err(e) => format!("could not be set aside ({e})"),
            };
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
