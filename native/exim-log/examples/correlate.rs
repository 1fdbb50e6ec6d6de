//! Times the correlation of a log's message facts (parse, correlate, summaries' items):
//! `cargo run --release --example correlate -- FILE`.
use exim_log::messages::{parse_parts, Correlator, Pending};
use exim_log::stream::{Batch, Context, Stream};
use exim_log::timestamps::TimestampConverter;
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("a log file");
    let data = std::fs::read(&path).expect("readable");
    let ctx = Context {
        server: "bench".into(),
        dataset: "exim.main".into(),
        path: "/var/log/exim_mainlog".into(),
        index_prefix: "exim".into(),
    };
    let mut s = Stream::new(
        ctx,
        TimestampConverter::from_name("Europe/London").unwrap(),
        0,
    );
    let mut batch = Batch::default();
    let t = Instant::now();
    for chunk in data.chunks(1 << 20) {
        s.feed(chunk, &mut batch);
    }
    s.finish(&mut batch);
    let feed = t.elapsed().as_secs_f64();
    let lines: Vec<&[u8]> = batch
        .facts
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && *l != b"!")
        .collect();
    let t = Instant::now();
    let parsed: Vec<_> = lines.iter().filter_map(|l| parse_parts(l).ok()).collect();
    let parse = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut c = Correlator::new(100_000);
    let mut pending = Pending::default();
    for (at, parts) in parsed.into_iter().enumerate() {
        let mut out = Vec::new();
        c.add(parts, at as u64, &mut out);
        pending.extend(out);
    }
    let mut out = Vec::new();
    c.drain(&mut out);
    pending.extend(out);
    let fold = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (mut bulk, mut keys) = (Vec::new(), Vec::new());
    let n = pending.write("exim", &mut bulk, &mut keys);
    let write = t.elapsed().as_secs_f64();
    println!(
        "feed {feed:.3}s; {} facts lines parsed in {parse:.3}s ({:.2} us each); fold {fold:.3}s; {n} summaries written in {write:.3}s ({:.2} us each)",
        lines.len(),
        1e6 * parse / lines.len() as f64,
        1e6 * write / n as f64
    );
}
