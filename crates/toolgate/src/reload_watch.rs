//! Watching the configuration file and its local spec files for hot reload (off with
//! `serve --no-watch`): their folders are watched (not the files, which editors and
//! Kubernetes ConfigMaps replace by renaming), events are debounced, and a reload is asked
//! for only when the content of a watched file differs from what was loaded (a digest per file,
//! taken before the reload reads them, so an edit made during a reload is not lost),
//! so a touch, an unrelated file or a symlink swap that changes nothing reloads nothing.
//!
//! Does not own: the reload itself ([`crate::reload`]).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, new_debouncer};
use sha2::Digest as _;
use tokio::sync::{mpsc, watch};

/// How long the files must be quiet before a change counts (an editor's save is several
/// events).
const DEBOUNCE: Duration = Duration::from_millis(300);

/// What the watched files hold: per file, a digest of its content (`None`: unreadable).
pub type Contents = BTreeMap<PathBuf, Option<[u8; 32]>>;

/// Watches the files of `loaded` (replaced after each reload, with what each file held when
/// it was loaded) and sends a trigger on `reload` when their content differs from that: on a
/// file event, and when the set is replaced (a change made while the reload ran).
/// Logs a warning and does nothing when the platform's watcher cannot start (SIGHUP still
/// reloads).
pub fn spawn(reload: mpsc::Sender<&'static str>, mut loaded: watch::Receiver<Contents>) {
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
        let mut last = loaded.borrow_and_update().clone();
        let mut files: Vec<PathBuf> = last.keys().cloned().collect();
        rewatch(debouncer.watcher(), &mut dirs, &files);
        loop {
            let now = read_contents(&files).await;
            if now != last {
                last = now;
                if reload.send("file change").await.is_err() {
                    break;
                }
            }
            tokio::select! {
                event = events.recv() => {
                    if event.is_none() {
                        break;
                    }
                }
                changed = loaded.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    last = loaded.borrow_and_update().clone();
                    let next: Vec<PathBuf> = last.keys().cloned().collect();
                    if next != files {
                        files = next;
                        rewatch(debouncer.watcher(), &mut dirs, &files);
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

/// What `files` hold now.
pub async fn read_contents(files: &[PathBuf]) -> Contents {
    let mut contents = Contents::new();
    for f in files {
        contents.insert(f.clone(), read_content(f).await);
    }
    contents
}

/// A digest of what `file` holds now (`None`: unreadable).
pub async fn read_content(file: &Path) -> Option<[u8; 32]> {
    let bytes = tokio::fs::read(file).await.ok()?;
    Some(sha2::Sha256::digest(&bytes).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file changed after the reload read it, but before the watcher got the new set (no
    /// file event follows): the difference from what was loaded still triggers a reload.
    #[tokio::test]
    async fn a_change_made_while_reloading_is_not_taken_for_the_loaded_state() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("spec.json");
        std::fs::write(&spec, "loaded").unwrap();
        let loaded = read_contents(std::slice::from_ref(&spec)).await;
        let (reload_tx, mut reload_rx) = mpsc::channel(4);
        let (loaded_tx, loaded_rx) = watch::channel(Contents::new());
        spawn(reload_tx, loaded_rx);
        std::fs::write(&spec, "changed during the reload").unwrap();
        loaded_tx.send(loaded).unwrap();
        let trigger = tokio::time::timeout(Duration::from_secs(10), reload_rx.recv())
            .await
            .expect("a reload is asked for");
        assert_eq!(trigger, Some("file change"));
    }

    /// What was loaded is still on disk: nothing to reload.
    #[tokio::test]
    async fn an_unchanged_set_asks_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("spec.json");
        std::fs::write(&spec, "loaded").unwrap();
        let (reload_tx, mut reload_rx) = mpsc::channel(4);
        let (loaded_tx, loaded_rx) = watch::channel(Contents::new());
        spawn(reload_tx, loaded_rx);
        loaded_tx
            .send(read_contents(std::slice::from_ref(&spec)).await)
            .unwrap();
        std::fs::write(dir.path().join("unrelated.txt"), "x").unwrap();
        let waited = tokio::time::timeout(Duration::from_secs(1), reload_rx.recv()).await;
        assert!(waited.is_err(), "no reload: {waited:?}");
    }
}
