//! The binary's allocator, and its purge delay once the gateway serves.
//!
//! **The allocator.** [`Allocator`] is mimalloc behind Rust's `GlobalAlloc`, as the `mimalloc`
//! crate's `MiMalloc` is, but it asks for an aligned block only when the layout needs more
//! alignment than every mimalloc block has anyway. `MiMalloc` sends every allocation through
//! `mi_malloc_aligned`, whose fast path holds only while the page's next free block happens
//! to be aligned and otherwise takes the generic path; with most layouts aligned to 8 bytes
//! or less, that was 7.5k of the ~111k instructions of a call to an HTTP upstream
//! (BENCHMARKS.md, "The allocator's entry points"). The rule is the one the standard library
//! applies to `malloc`: plain `mi_malloc` when the alignment is at most 16 bytes and at most
//! the size, since mimalloc (a `malloc` replacement) gives every block of 16 bytes or more a
//! 16-byte alignment and smaller blocks their 8-byte size class.
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

/// Alignment every mimalloc block of at least this size has (`MI_MAX_ALIGN_SIZE`, the
/// alignment of C's `max_align_t` on the 64-bit targets toolgate is built for).
const MIN_ALIGN: usize = 16;

/// mimalloc as the global allocator (module docs).
pub struct Allocator;

/// Whether a block from the unaligned entry points satisfies `align` for `size` bytes.
#[inline]
fn plain(size: usize, align: usize) -> bool {
    align <= MIN_ALIGN && align <= size
}

// SAFETY: each method returns what the mimalloc function it calls returns: a block of at least
// the requested size with the requested alignment (see `plain`), or null; blocks from every
// entry point are freed by `mi_free`.
unsafe impl std::alloc::GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        // SAFETY: mimalloc's allocation functions have no preconditions.
        unsafe {
            if plain(size, align) {
                libmimalloc_sys::mi_malloc(size).cast()
            } else {
                libmimalloc_sys::mi_malloc_aligned(size, align).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        // SAFETY: as in `alloc`.
        unsafe {
            if plain(size, align) {
                libmimalloc_sys::mi_zalloc(size).cast()
            } else {
                libmimalloc_sys::mi_zalloc_aligned(size, align).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { libmimalloc_sys::mi_free(ptr.cast()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        // SAFETY: `ptr` came from this allocator, so from mimalloc; `mi_realloc` keeps the
        // alignment `plain` promises for the new size, `mi_realloc_aligned` any other.
        unsafe {
            if plain(new_size, align) {
                libmimalloc_sys::mi_realloc(ptr.cast(), new_size).cast()
            } else {
                libmimalloc_sys::mi_realloc_aligned(ptr.cast(), new_size, align).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc as _, Layout};

    use super::*;

    /// Every size up to 4 KiB and a few larger ones, at every alignment up to 4 KiB: the
    /// block is aligned, writable over its whole size, keeps its bytes when it grows or
    /// shrinks (at the same alignment), and zeroed allocations are zero.
    #[test]
    fn blocks_have_the_alignment_asked_for_and_keep_their_bytes() {
        let sizes = (1..=4096).chain([6000, 65_536, 100_000, 1 << 20]);
        for size in sizes {
            for align in (0..=12).map(|b| 1usize << b) {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: the layout has a non-zero size; each block is freed once, by this
                // allocator, after its last use.
                unsafe {
                    let p = Allocator.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size}, align {align}");
                    std::ptr::write_bytes(p, 0xA5, size);
                    let grown = size * 2 + 3;
                    let q = Allocator.realloc(p, layout, grown);
                    assert_eq!(q as usize % align, 0, "grown to {grown}, align {align}");
                    assert!(
                        std::slice::from_raw_parts(q, size)
                            .iter()
                            .all(|&b| b == 0xA5)
                    );
                    let shrunk = size.div_ceil(2);
                    let grown_layout = Layout::from_size_align(grown, align).unwrap();
                    let r = Allocator.realloc(q, grown_layout, shrunk);
                    assert_eq!(r as usize % align, 0, "shrunk to {shrunk}, align {align}");
                    assert!(
                        std::slice::from_raw_parts(r, shrunk)
                            .iter()
                            .all(|&b| b == 0xA5)
                    );
                    Allocator.dealloc(r, Layout::from_size_align(shrunk, align).unwrap());

                    let z = Allocator.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0, "zeroed, size {size}, align {align}");
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                    Allocator.dealloc(z, layout);
                }
            }
        }
    }
}
