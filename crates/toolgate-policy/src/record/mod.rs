//! Recording tool calls for replay (`recording:`): one JSON line per sampled `tools/call`,
//! built by the call's task and appended by a writer thread behind a bounded queue.
//!
//! A line (format 1): `{"v": 1, "ts", "correlation_id", "subject", "transport", "path",
//! "tool", "arguments", "outcome", "is_error", "status", "shape", "content", "latency_ms",
//! "attempts"}`. `arguments` are the call's arguments after redaction; the result is kept as
//! its **shape** only (types and fields, `toolgate_contract::shape`), never its values, so a
//! recording holds no response data; `subject` is the principal's subject, never a token.
//!
//! Redaction (`recording.redact`) maps tool names or globs to JSON pointers into the line:
//! `/arguments/...` replaces an argument's value with `"[redacted]"`, `/result/...` marks a
//! part of the result's shape `redacted` (replay never compares it). `*` matches every array
//! item or object field.
//!
//! Cost: the call's task writes its line straight into one buffer (`line`: the fixed parts as
//! literal bytes, strings escaped only where needed, the arguments serialized from the
//! request without a copy) and takes the result's shape from a reference, reusing the
//! serialized shape when its tool answered with that shape before (`tools`); the buffer goes
//! through the queue and the writer thread (`writer`) only appends it. When the queue is full the line is
//! dropped and counted (`toolgate_recording_discarded_total`); a call is never made to wait.
//! Dropping the recorder (a normal stop, or a reload that changes the section) writes what is
//! queued first, waiting at most [`FINAL_FLUSH`].
//!
//! Does not own: replaying (`toolgate-replay`).

mod layer;
mod line;
mod tools;
mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use layer::{RecordLayer, RecordService};
use tools::{Redaction, Tools};
use writer::Message;

/// Lines waiting for the writer thread at most.
const QUEUE: usize = 16_384;

/// How long dropping the recorder waits for queued lines to be written.
pub const FINAL_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// The format version written in each line's `v`.
pub const RECORD_FORMAT: u32 = 1;

/// What replaces a redacted argument value.
pub const REDACTED: &str = "[redacted]";

/// The `recording:` section: record tool calls to JSON Lines for `toolgate replay`
/// (docs/gate.md, "Recording"). Absent: nothing is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingConfig {
    /// The JSON Lines file calls are appended to (created if missing).
    pub path: String,
    /// The fraction of tool calls recorded, from 0 to 1 (default 1: every call).
    #[serde(default = "every_call")]
    pub sample: f64,
    /// Redaction: tool names or globs (`*`, `?`, `[a-z]`, `{a,b}`) mapped to JSON pointers
    /// into the line: `/arguments/password` replaces that argument's value with
    /// `"[redacted]"`; `/result/token` marks that part of the result's shape redacted. `*`
    /// in a pointer matches every array item or field. Every matching entry applies.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub redact: BTreeMap<String, Vec<String>>,
}

fn every_call() -> f64 {
    1.0
}

/// A problem in the `recording` section or with its file.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Settings that do not make sense, each with its location.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// The file cannot be opened.
    #[error("recording.path: cannot open {path}: {cause}")]
    Open {
        /// The configured path.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
}

/// The recording's sink: a sampler and a queue to the writer thread.
pub struct Recorder {
    config: RecordingConfig,
    queue: SyncSender<Message>,
    /// Per tool: redaction pointers and cached shapes.
    tools: Tools,
    /// Whether a discarded line was logged already (once per recorder).
    warned: std::sync::atomic::AtomicBool,
}

impl Recorder {
    /// Checks `config` (reporting every problem), opens its file and starts the writer.
    pub fn open(config: &RecordingConfig) -> Result<Arc<Recorder>, RecordError> {
        let mut problems = Vec::new();
        if !(0.0..=1.0).contains(&config.sample) {
            problems.push(format!(
                "recording.sample: must be between 0 and 1 (a fraction of calls), not {}",
                config.sample
            ));
        }
        if config.path.trim().is_empty() {
            problems.push("recording.path: must name a file".to_owned());
        }
        let redaction = match Redaction::compile(&config.redact) {
            Ok(r) => Some(r),
            Err(p) => {
                problems.extend(p);
                None
            }
        };
        let Some(redaction) = redaction.filter(|_| problems.is_empty()) else {
            return Err(RecordError::Invalid(problems));
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.path)
            .map_err(|cause| RecordError::Open {
                path: config.path.clone(),
                cause,
            })?;
        let (queue, entries) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("toolgate-record".to_owned())
            .spawn(move || writer::write_lines(entries, file))
            .map_err(|cause| RecordError::Open {
                path: config.path.clone(),
                cause,
            })?;
        Ok(Arc::new(Recorder {
            config: config.clone(),
            queue,
            tools: Tools::new(redaction),
            warned: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// The settings it records with.
    pub fn config(&self) -> &RecordingConfig {
        &self.config
    }

    /// Whether this call is recorded.
    fn sampled(&self) -> bool {
        self.config.sample >= 1.0
            || (self.config.sample > 0.0 && fastrand::f64() < self.config.sample)
    }

    /// Waits until every line pushed before is written and flushed (shutdown, tests).
    /// Waits at most [`FINAL_FLUSH`].
    pub fn sync(&self) {
        let deadline = Instant::now() + FINAL_FLUSH;
        let (done, wait) = sync_channel(1);
        let mut message = Message::Sync(done);
        loop {
            match self.queue.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    message = m;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(TrySendError::Full(_)) => return,
            }
        }
        let _ = wait.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }

    /// Queues a finished line; false when the queue is full (the line is dropped).
    fn push(&self, line: Vec<u8>) -> bool {
        match self.queue.try_send(Message::Line(line)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => true,
            Err(TrySendError::Full(_)) => {
                if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(
                        path = %self.config.path,
                        "the recording's writer cannot keep up: discarding lines \
                         (counted in toolgate_recording_discarded_total)"
                    );
                }
                false
            }
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.sync();
    }
}

#[cfg(test)]
mod tests;
