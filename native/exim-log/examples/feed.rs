//! Times `Stream::feed` (the core alone, bytes out) over a log file: `cargo run --release --example feed -- FILE [RUNS [OUT [OUTPUT]]]`
//! (OUT: the last run's bulk bytes, to compare two builds' output, `-` for none; OUTPUT: `bulk`,
//! `documents` or `nothing`, the stream's `Output`; `facts`: nothing written, the typed message facts
//! read as `parse --messages` reads them).
use exim_log::stream::{Batch, Context, Output, Stream};
use exim_log::timestamps::TimestampConverter;
use std::time::Instant;

// The binding's allocator (`native/binding`), so the figures are the module's: glibc's malloc and
// free were about a tenth of this example's instructions.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a log file");
    let runs: usize = args.next().map_or(3, |r| r.parse().expect("runs"));
    let out = args.next().filter(|o| o != "-");
    let mode = args.next();
    let output = match mode.as_deref() {
        None | Some("bulk") => Output::Bulk,
        Some("documents") => Output::Documents,
        Some("nothing" | "facts") => Output::Nothing,
        Some(other) => panic!("unknown output: {other}"),
    };
    let typed = mode.as_deref() == Some("facts");
    let mut kept = Vec::new();
    let data = std::fs::read(&path).expect("readable");
    let lines = memchr::memchr_iter(b'\n', &data).count();
    let mut best = f64::MAX;
    let mut bytes = 0;
    for _ in 0..runs {
        let ctx = Context {
            server: "mx1.example.org".into(),
            dataset: "exim.main".into(),
            path: "/var/log/exim_mainlog".into(),
            index_prefix: "exim".into(),
        };
        let mut s = Stream::new(
            ctx,
            TimestampConverter::from_name("Europe/London").unwrap(),
            0,
        );
        s.output = output;
        s.typed_facts = typed;
        let t = Instant::now();
        bytes = 0;
        let mut batch = Batch::default();
        for chunk in data.chunks(1 << 20) {
            s.feed(chunk, &mut batch);
            bytes += batch.bulk.len();
            if out.is_some() {
                kept.extend_from_slice(&batch.bulk);
            }
            batch.bulk.clear();
            batch.entries.clear();
            batch.parts.clear();
        }
        s.finish(&mut batch);
        bytes += batch.bulk.len();
        if let Some(out) = &out {
            kept.extend_from_slice(&batch.bulk);
            std::fs::write(out, &kept).expect("writable");
            kept.clear();
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{lines} lines, {bytes} bulk bytes, best {best:.3} s, {:.0} lines/s",
        lines as f64 / best
    );
}
