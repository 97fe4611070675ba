//! Watching the configuration file and its local spec files for hot reload (off with
//! `serve --no-watch`): their folders are watched (not the files, which editors and
//! Kubernetes ConfigMaps replace by renaming), events are debounced, and a reload is asked
//! for only when the content of a watched file actually changed (a fingerprint of them all),
//! so a touch, an unrelated file or a symlink swap that changes nothing reloads nothing.
//!
//! Does not own: the reload itself ([`crate::reload`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, new_debouncer};
use sha2::Digest as _;
use tokio::sync::{mpsc, watch};

/// How long the files must be quiet before a change counts (an editor's save is several
/// events).
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Watches `files` (the set is replaced after each reload) and sends a trigger on `reload`
/// when their content changes. Logs a warning and does nothing when the platform's watcher
/// cannot start (SIGHUP still reloads).
pub fn spawn(reload: mpsc::Sender<&'static str>, mut files: watch::Receiver<Vec<PathBuf>>) {
    let (events_tx, mut events) = mpsc::unbounded_channel::<()>();
    let debouncer = new_debouncer(DEBOUNCE, move |result: DebounceEventResult| match result {
        Ok(batch) if !batch.is_empty() => {
            let _ = events_tx.send(());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("watching the configuration files failed: {e}"),
    });
    let mut debouncer = match debouncer {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(
                "cannot watch the configuration files ({e}): reload with SIGHUP, or pass --no-watch"
            );
            return;
        }
    };
    tokio::spawn(async move {
        let mut dirs = HashSet::new();
        let mut current = files.borrow_and_update().clone();
        rewatch(debouncer.watcher(), &mut dirs, &current);
        let mut last = fingerprint(&current).await;
        loop {
            tokio::select! {
                event = events.recv() => {
                    if event.is_none() {
                        break;
                    }
                    let now = fingerprint(&current).await;
                    if now != last {
                        last = now;
                        if reload.send("file change").await.is_err() {
                            break;
                        }
                    }
                }
                changed = files.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let next = files.borrow_and_update().clone();
                    if next != current {
                        current = next;
                        rewatch(debouncer.watcher(), &mut dirs, &current);
                        last = fingerprint(&current).await;
                    }
                }
            }
        }
    });
}

/// Watches the folders of `files` (and stops watching the folders no longer needed).
fn rewatch(
    watcher: &mut dyn notify_debouncer_mini::notify::Watcher,
    dirs: &mut HashSet<PathBuf>,
    files: &[PathBuf],
) {
    let wanted: HashSet<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    for gone in dirs.difference(&wanted) {
        let _ = watcher.unwatch(gone);
    }
    for dir in wanted.difference(dirs) {
        match watcher.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => tracing::debug!(dir = %dir.display(), "watching for configuration changes"),
            Err(e) => tracing::warn!(
                dir = %dir.display(),
                "cannot watch this folder for configuration changes ({e}): reload with SIGHUP"
            ),
        }
    }
    *dirs = wanted;
}

/// A digest of the watched files' names and contents (an unreadable file counts as such).
async fn fingerprint(files: &[PathBuf]) -> [u8; 32] {
    let mut hasher = sha2::Sha256::new();
    for f in files {
        hasher.update(f.as_os_str().as_encoded_bytes());
        match tokio::fs::read(f).await {
            Ok(bytes) => {
                hasher.update([1]);
                hasher.update((bytes.len() as u64).to_le_bytes());
                hasher.update(&bytes);
            }
            Err(_) => hasher.update([0]),
        }
    }
    hasher.finalize().into()
}
