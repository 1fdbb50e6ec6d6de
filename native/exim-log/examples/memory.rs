//! Where `parse --messages`' memory is, by a counting global allocator: the core's tables and lazy
//! state (the public-suffix sets, the catalogue's regexes and their caches) after its first chunk, one
//! chunk's batch, and at the peak of `parse --messages`' first-seen order what waits in it (open in the
//! correlator, finished and packed). Live heap bytes, not RSS (the allocator's own overhead and the
//! pages it keeps are not counted): `cargo run --release --example memory -- FILE [MAX_OPEN]`.
use exim_log::messages::FirstSeen;
use exim_log::stream::{Batch, Context, Stream};
use exim_log::timestamps::TimestampConverter;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static BLOCKS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to `System` with the caller's layout; the counters are only arithmetic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Relaxed) + l.size();
        PEAK.fetch_max(now, Relaxed);
        BLOCKS.fetch_add(1, Relaxed);
        System.alloc(l)
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        BLOCKS.fetch_sub(1, Relaxed);
        System.dealloc(p, l)
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            let now = LIVE.fetch_add(new - l.size(), Relaxed) + new - l.size();
            PEAK.fetch_max(now, Relaxed);
        } else {
            LIVE.fetch_sub(l.size() - new, Relaxed);
        }
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn mb(b: usize) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn live() -> (usize, usize) {
    (LIVE.load(Relaxed), BLOCKS.load(Relaxed))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a log file");
    let max_open: usize = args
        .next()
        .map_or(100_000, |m| m.parse().expect("max_open"));
    // MAX_OPEN 0: the core alone, its partials dropped (what the stream itself keeps as it goes).
    let correlate = max_open > 0;
    let data = std::fs::read(&path).expect("readable");
    let (file, _) = live();
    let ctx = Context {
        server: "bench".into(),
        dataset: "exim.main".into(),
        path: "/var/log/exim_mainlog".into(),
        index_prefix: "exim".into(),
    };
    let times = TimestampConverter::from_name("Europe/London").expect("a zone");
    let mut s = Stream::new(ctx, times, 0);
    s.typed_facts = true;
    let (made, _) = live();
    println!("the stream made: {:.1} MB", mb(made - file));

    let mut f = FirstSeen::new(max_open);
    let mut batch = Batch::default();
    let (mut peak_order, mut at_peak) = (0usize, (0, 0, 0, 0, 0));
    let mut open_json = 0;
    let mut first_chunk = true;
    let mut base = 0;
    for chunk in data.chunks(1 << 20) {
        s.feed(chunk, &mut batch);
        for (_, parts) in batch.parts.drain(..) {
            if correlate {
                f.add(parts);
            }
        }
        batch.bulk.clear();
        batch.entries.clear();
        f.out.clear();
        if first_chunk {
            first_chunk = false;
            let (now, blocks) = live();
            base = now;
            println!(
                "after the first chunk (lazy tables, regex caches, one batch's buffers): {:.1} MB \
                 in {blocks} blocks",
                mb(now - file)
            );
        }
        let (now, blocks) = live();
        if now > peak_order {
            let (open, finished, packed) = f.held();
            open_json = f.open_bytes();
            peak_order = now;
            at_peak = (open, finished, packed, blocks, now - base);
        }
    }
    s.finish(&mut batch);
    for (_, parts) in batch.parts.drain(..) {
        f.add(parts);
    }
    let (open, finished, packed, blocks, over) = at_peak;
    println!(
        "peak after a chunk: {:.1} MB live in {blocks} blocks, {:.1} MB over the first chunk's: \
         {open} open in the correlator ({:.1} MB as JSON), {finished} finished waiting packed in {:.1} MB \
         ({:.0} bytes each), the rest {:.0} bytes per message held",
        mb(peak_order - file),
        mb(over),
        mb(open_json),
        mb(packed),
        packed as f64 / finished.max(1) as f64,
        (over - packed) as f64 / (open + finished).max(1) as f64,
    );
    let mut written = 0;
    while !f.finish_some(1 << 22) {
        written += f.out.len();
        f.out.clear();
    }
    println!(
        "{} summaries, {} bytes; peak live heap {:.1} MB (the file read whole: {:.1} MB of it)",
        f.written,
        written + f.out.len(),
        mb(PEAK.load(Relaxed)),
        mb(file)
    );
}
