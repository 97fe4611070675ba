//! The one owner of stdout: writes each message whole with its newline, as many as are
//! waiting at once, and flushes when none is left (batches under load, no delay alone).
//! Ends when every sender is gone. Also relays rmcp's output lines to it.

use std::io;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;

use super::lifecycle::Lifecycle;

/// Largest batch of answers written at once.
const BATCH_BYTES: usize = 256 * 1024;

/// Writes the messages it receives to `write` (see the module docs).
pub(crate) async fn write_out<W: AsyncWrite + Unpin>(
    mut write: W,
    mut messages: mpsc::Receiver<Vec<u8>>,
) {
    let mut batch = Vec::with_capacity(16 * 1024);
    let mut broken = false;
    while let Some(message) = messages.recv().await {
        if message.len() >= BATCH_BYTES {
            // A large answer (a big `tools/list`) goes out as it is, its newline written
            // after it: copying it into the batch, or appending to it (a reallocation of a
            // full buffer), would hold it twice.
            let written = async {
                write.write_all(&message).await?;
                write_whole(&mut write, b"\n").await
            };
            if !broken && let Err(e) = written.await {
                tracing::error!("cannot write to stdout: {e}");
                broken = true;
            }
            continue;
        }
        batch.extend_from_slice(&message);
        batch.push(b'\n');
        while batch.len() < BATCH_BYTES
            && let Ok(message) = messages.try_recv()
        {
            batch.extend_from_slice(&message);
            batch.push(b'\n');
        }
        if !broken && let Err(e) = write_whole(&mut write, &batch).await {
            // Keep draining so no call waits on a dead output.
            tracing::error!("cannot write to stdout: {e}");
            broken = true;
        }
        batch.clear();
        if batch.capacity() > 4 * BATCH_BYTES {
            batch = Vec::with_capacity(16 * 1024);
        }
    }
    let _ = write.shutdown().await;
}

/// Writes `bytes` and flushes.
async fn write_whole<W: AsyncWrite + Unpin>(write: &mut W, bytes: &[u8]) -> io::Result<()> {
    write.write_all(bytes).await?;
    write.flush().await
}

/// Relays rmcp's lines to the writer, and learns the negotiated revision from its answer to
/// `initialize`.
pub(crate) async fn relay_rmcp_output<R: AsyncRead + Unpin>(
    from: R,
    out: mpsc::Sender<Vec<u8>>,
    lifecycle: Arc<Mutex<Lifecycle>>,
    capacity: usize,
) {
    let mut from = BufReader::with_capacity(capacity, from);
    loop {
        let mut line = Vec::new();
        match from.read_until(b'\n', &mut line).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::error!("cannot read rmcp's output: {e}");
                return;
            }
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        {
            let mut lifecycle = lifecycle.lock().unwrap_or_else(|e| e.into_inner());
            if let Lifecycle::Initializing(id) = &*lifecycle
                && let Some(next) = Lifecycle::after_initialize(&line, id)
            {
                *lifecycle = next;
            }
        }
        if out.send(line).await.is_err() {
            return;
        }
    }
}
