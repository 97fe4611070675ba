//! Watching the configuration file and its local spec files for hot reload (off with
//! `serve --no-watch`): their folders are watched (not the files, which editors and
//! Kubernetes ConfigMaps replace by renaming), events are debounced, and a reload is asked
//! for only when the content of a watched file differs from what was loaded (a digest per file,
//! taken before the reload reads them, so an edit made during a reload is not lost),
//! so a touch, an unrelated file or a symlink swap that changes nothing reloads nothing.
//! A file is read and digested again only when its metadata (size, modification and change
//! times, inode) moved since the watcher last read it: a folder where other files are written
//! all the time (a recording, logs) costs a `stat` per watched file per event, not a digest of
//! every spec.
//!
//! Does not own: the reload itself ([`crate::reload`]).

use std::collections::{BTreeMap, HashMap, HashSet};
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
        let mut digests = Digests::default();
        rewatch(debouncer.watcher(), &mut dirs, &files);
        loop {
            let now = digests.read(&files).await;
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

/// How old a file's modification time must be before its stamp stands for its content.
const RACY: Duration = Duration::from_secs(2);

/// What identifies a file's content without reading it: size, modification and change
/// times, device and inode (of the file a symlink points to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    changed: (i64, i64),
    dev: u64,
    ino: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            changed: (meta.ctime(), meta.ctime_nsec()),
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// The watcher's digests, each kept with the stamp of the file it was taken from.
#[derive(Default)]
struct Digests {
    known: HashMap<PathBuf, (Stamp, Option<[u8; 32]>)>,
    /// Files read and digested so far (for tests).
    hashed: usize,
}

impl Digests {
    /// What `files` hold now: a file whose stamp has not moved keeps its digest unread.
    async fn read(&mut self, files: &[PathBuf]) -> Contents {
        let mut contents = Contents::new();
        for f in files {
            let digest = match tokio::fs::metadata(f).await {
                Ok(meta) => {
                    let stamp = Stamp::of(&meta);
                    match self.known.get(f) {
                        Some((known, digest)) if *known == stamp => *digest,
                        _ => {
                            // Stamped before reading: a write during the read moves the stamp
                            // again, so the next event reads the file once more.
                            let digest = read_content(f).await;
                            self.hashed += 1;
                            // A file modified within the last seconds may be written again
                            // within the same timestamp tick (as git's "racily clean"
                            // entries): its stamp is not trusted until it has aged.
                            let settled = stamp
                                .modified
                                .and_then(|m| m.elapsed().ok())
                                .is_some_and(|age| age >= RACY);
                            if settled {
                                self.known.insert(f.clone(), (stamp, digest));
                            } else {
                                self.known.remove(f);
                            }
                            digest
                        }
                    }
                }
                Err(_) => {
                    self.known.remove(f);
                    None
                }
            };
            contents.insert(f.clone(), digest);
        }
        self.known.retain(|f, _| contents.contains_key(f));
        contents
    }
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

    /// Only a file whose metadata moved is read again.
    #[tokio::test]
    async fn unchanged_files_are_not_digested_again() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("spec.json");
        let config = dir.path().join("config.yaml");
        std::fs::write(&spec, "spec").unwrap();
        std::fs::write(&config, "config").unwrap();
        let files = [spec.clone(), config.clone()];
        let aged = |f: &Path| {
            let old = std::time::SystemTime::now() - Duration::from_secs(60);
            std::fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(old)
                .unwrap();
        };
        aged(&spec);
        aged(&config);
        let mut digests = Digests::default();
        let first = digests.read(&files).await;
        assert_eq!(digests.hashed, 2);
        assert_eq!(first, read_contents(&files).await);
        std::fs::write(dir.path().join("recording.jsonl"), "a line").unwrap();
        assert_eq!(digests.read(&files).await, first);
        assert_eq!(digests.hashed, 2, "nothing watched changed: nothing read");
        std::fs::write(&spec, "spec, edited").unwrap();
        let second = digests.read(&files).await;
        assert_eq!(digests.hashed, 3, "only the edited file is read");
        // Just written: read again until its stamp has aged (a same-size write within the
        // same timestamp tick would not move it).
        assert_eq!(digests.read(&files).await, second);
        assert_eq!(digests.hashed, 4, "a fresh file's stamp is not trusted yet");
        aged(&spec);
        digests.read(&files).await;
        assert_eq!(digests.hashed, 5);
        digests.read(&files).await;
        assert_eq!(digests.hashed, 5, "an aged stamp is trusted");
        assert_ne!(second[&spec], first[&spec]);
        assert_eq!(second[&config], first[&config]);
        std::fs::remove_file(&config).unwrap();
        assert_eq!(digests.read(&files).await[&config], None);
        std::fs::write(&config, "config").unwrap();
        assert_eq!(digests.read(&files).await[&config], first[&config]);
        assert_eq!(digests.hashed, 6);
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
