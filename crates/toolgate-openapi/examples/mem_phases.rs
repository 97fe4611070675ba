//! Live heap bytes (and the peak so far) after each phase of loading one spec: read, parse,
//! compile, drop the document. Counts what the program holds, not what the allocator keeps
//! from the OS, so it separates live data from allocator retention.
//!
//! `cargo run --release -p toolgate-openapi --example mem_phases -- FILE [--full] [--compare]`
//! (`--full`: parse with `parse_document`, keeping the parts the compiler never reads;
//! `--compare`: then check that the full document compiles to the same result; `--compact-ir`:
//! rebuild the IR's maps at exact size and report the live heap, to see what that would save)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use toolgate_openapi::{
    CompileOptions, NoExternalRefs, compile, parse_document, parse_for_compile,
};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn report(phase: &str, t: Instant) {
    println!(
        "{phase:<16} live {:>7.1} MB   peak so far {:>7.1} MB   {:>6.1} ms",
        LIVE.load(Ordering::Relaxed) as f64 / 1e6,
        PEAK.load(Ordering::Relaxed) as f64 / 1e6,
        t.elapsed().as_secs_f64() * 1000.0
    );
}

fn compact_map(m: &mut serde_json::Map<String, serde_json::Value>) {
    let old = std::mem::take(m);
    let mut new = serde_json::Map::with_capacity(old.len());
    for (k, mut v) in old {
        compact(&mut v);
        new.insert(k, v);
    }
    *m = new;
}

fn compact(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => compact_map(m),
        serde_json::Value::Array(a) => {
            a.shrink_to_fit();
            a.iter_mut().for_each(compact);
        }
        _ => {}
    }
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: mem_phases FILE [--full] [--compare] [--compact-ir]");
        std::process::exit(2);
    };
    let t = Instant::now();
    let bytes = std::fs::read(&path).expect("read spec");
    report("read", t);
    let doc = if std::env::args().any(|a| a == "--full") {
        parse_document(&bytes)
    } else {
        parse_for_compile(&bytes)
    }
    .expect("parse");
    report("parse", t);
    drop(bytes);
    report("drop bytes", t);
    let spec = compile(&doc, None, &CompileOptions::default(), &NoExternalRefs).expect("compile");
    report("compile", t);
    drop(doc);
    report("drop document", t);
    if std::env::args().any(|a| a == "--compact-ir") {
        let mut spec = spec;
        for op in &mut spec.operations {
            compact_map(&mut op.input_schema);
            if let Some(o) = &mut op.output_schema {
                compact_map(o);
            }
        }
        report("compact IR", t);
        return;
    }
    println!("operations: {}", spec.operations.len());
    if std::env::args().any(|a| a == "--compare") {
        // The compiled result from the full document must be the same.
        let bytes = std::fs::read(&path).expect("read spec");
        let full = parse_document(&bytes).expect("parse");
        let other =
            compile(&full, None, &CompileOptions::default(), &NoExternalRefs).expect("compile");
        let same = serde_json::to_vec(&spec).ok() == serde_json::to_vec(&other).ok();
        println!("same compiled result as from the full document: {same}");
        if !same {
            std::process::exit(1);
        }
    }
}
