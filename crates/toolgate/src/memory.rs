//! The allocator's purge delay once the gateway serves.
//!
//! The binary's allocator (mimalloc, tuned in `main.rs`) starts with freed memory handed back
//! to the OS at once, so that what compiling the sources frees (the parsed documents) leaves
//! the RSS. Serving calls is another pattern: a page that one call empties and the next fills
//! again (hyper's read buffer, replaced while the previous answer's body still shares it) went
//! back to the kernel and was faulted in again on every other call over an HTTP upstream (an
//! `madvise` and 16 page faults each: BENCHMARKS.md, "Upstream MCP servers").
//! [`serving`] switches to mimalloc's default delay (10 ms unused) once the sources are
//! assembled. Does not own: the start-up settings (`main.rs`).

/// mimalloc's `mi_option_purge_delay` (include/mimalloc.h; `main.rs` checks the enum).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// Milliseconds a freed page stays unused before it is handed back while serving.
const SERVING_PURGE_DELAY_MS: std::ffi::c_long = 10;

/// Switches the allocator to its serving setting, unless `MIMALLOC_PURGE_DELAY` chose one.
pub fn serving() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting a mimalloc option has no memory-safety preconditions.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, SERVING_PURGE_DELAY_MS) };
    }
}
