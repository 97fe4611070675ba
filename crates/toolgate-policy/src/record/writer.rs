//! The recording's writer thread: takes finished lines off the queue and appends them to the
//! file, one write per drain.
//!
//! Does not own: building lines (`layer`, `line`).

use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};

/// What the writer thread is sent.
pub(super) enum Message {
    /// A finished line, newline included.
    Line(Vec<u8>),
    /// Answer once everything before it is written and flushed.
    Sync(SyncSender<()>),
}

/// How often the writer drains the queue while calls keep coming.
const DRAIN_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// The writer thread. Idle, it blocks on the queue, so the first line after a quiet spell is
/// written at once. Then it sleeps [`DRAIN_EVERY`] and drains what came meanwhile, again and
/// again, and goes back to blocking only after an interval without a line: while calls keep
/// coming (even one every few milliseconds) a call that queues a line finds no parked
/// receiver to wake, so recording costs a call no futex wake-up and no context switch, and
/// the file gets one write per interval rather than one per call (waking the writer per call
/// cost about 40 µs of CPU per call at c=16 on the 2-core benchmark VM, and about 1k
/// instructions per call at c=1: `bench/recording.sh`, `bench/callgrind.sh`, BENCHMARKS.md).
/// The queue holds far more than one interval of calls at any rate this machine serves.
pub(super) fn write_lines(messages: Receiver<Message>, file: std::fs::File) {
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let mut waiting: Vec<SyncSender<()>> = Vec::new();
    while let Ok(first) = messages.recv() {
        let mut ok = take(first, &mut out, &mut waiting);
        loop {
            ok &= out.flush().is_ok();
            if !ok {
                tracing::error!("cannot write the recording");
                ok = true;
            }
            for done in waiting.drain(..) {
                let _ = done.send(());
            }
            std::thread::sleep(DRAIN_EVERY);
            let mut drained = 0usize;
            let connected = loop {
                match messages.try_recv() {
                    Ok(message) => {
                        ok &= take(message, &mut out, &mut waiting);
                        drained += 1;
                    }
                    Err(TryRecvError::Empty) => break true,
                    Err(TryRecvError::Disconnected) => break false,
                }
            };
            if !connected {
                if out.flush().is_err() || !ok {
                    tracing::error!("cannot write the recording");
                }
                for done in waiting.drain(..) {
                    let _ = done.send(());
                }
                return;
            }
            if drained == 0 {
                break;
            }
        }
    }
}

/// Writes a line (or remembers a sync request); false when the write failed.
fn take(message: Message, out: &mut impl Write, waiting: &mut Vec<SyncSender<()>>) -> bool {
    match message {
        Message::Line(line) => out.write_all(&line).is_ok(),
        Message::Sync(done) => {
            waiting.push(done);
            true
        }
    }
}
