//! Snapshot files: a generated document (OpenAPI, JSON Schema) is committed, and a test fails
//! when the code's output and the committed file drift. `UPDATE_SNAPSHOTS=1` rewrites the file
//! instead, so that the change shows in review as a diff.

use std::path::Path;

/// Compares `current` with the file at `path`, or rewrites the file when `UPDATE_SNAPSHOTS` is
/// set. Panics with the command to run when they differ.
#[allow(clippy::panic)]
pub fn assert_snapshot(path: &Path, current: &str, update_command: &str) {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        if let Err(err) = std::fs::write(path, current) {
            panic!("cannot write {}: {err}", path.display());
        }
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed != current {
        let line = committed
            .lines()
            .zip(current.lines())
            .position(|(a, b)| a != b)
            .map(|n| n + 1)
            .unwrap_or_else(|| committed.lines().count().min(current.lines().count()) + 1);
        panic!(
            "{} is out of date (first difference at line {line}); review the change and run \
             `UPDATE_SNAPSHOTS=1 {update_command}`",
            path.display()
        );
    }
}
