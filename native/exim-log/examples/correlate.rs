//! Times the correlation of a log's message facts: the feed without them and with them (the typed
//! partials, `Stream::typed_facts`), the first-seen order, the fold and the summaries' items.
//! `cargo run --release --example correlate -- FILE`.
use exim_log::messages::{Correlator, FirstSeen, Pending};
use exim_log::stream::{Batch, Context, Stream};
use exim_log::timestamps::TimestampConverter;
use std::time::Instant;

fn feed(data: &[u8], typed: bool) -> (Batch, f64) {
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
    s.typed_facts = typed;
    let mut batch = Batch::default();
    let t = Instant::now();
    for chunk in data.chunks(1 << 20) {
        s.feed(chunk, &mut batch);
    }
    s.finish(&mut batch);
    (batch, t.elapsed().as_secs_f64())
}

fn main() {
    let path = std::env::args().nth(1).expect("a log file");
    let data = std::fs::read(&path).expect("readable");

    let (plain, feed_plain) = feed(&data, false);
    assert!(plain.parts.is_empty(), "no facts read without typed_facts");
    drop(plain);
    let (typed, feed_typed) = feed(&data, true);
    let n_typed = typed.parts.len();

    // `parse --messages`' order, with what it holds at its peak.
    let t = Instant::now();
    let mut f = FirstSeen::new(100_000);
    let (mut peak, mut at_peak, mut written) = (0, (0, 0, 0), 0);
    for (i, (_, parts)) in typed.parts.iter().cloned().enumerate() {
        f.add(parts);
        written += std::mem::take(&mut f.out).len();
        if i % 4096 != 0 {
            continue; // `held` counts the waiting messages one by one
        }
        let held = f.held();
        if held.0 + held.1 > peak {
            (peak, at_peak) = (held.0 + held.1, held);
        }
    }
    while !f.finish_some(1 << 22) {
        written += std::mem::take(&mut f.out).len();
    }
    written += f.out.len();
    println!(
        "first-seen order {:.3}s, {} summaries ({written} bytes); at its peak {} open and {} finished \
         waiting in {} bytes",
        t.elapsed().as_secs_f64(),
        f.written,
        at_peak.0,
        at_peak.1,
        at_peak.2
    );

    let t = Instant::now();
    let mut c = Correlator::new(100_000);
    let mut pending = Pending::default();
    let mut out = Vec::new();
    for (at, parts) in typed.parts {
        c.add(parts, at, &mut out);
        pending.extend(std::mem::take(&mut out));
    }
    c.drain(&mut out);
    pending.extend(out);
    let fold = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (mut bulk, mut keys) = (Vec::new(), Vec::new());
    let n = pending.write("exim", &mut bulk, &mut keys);
    let write = t.elapsed().as_secs_f64();
    println!(
        "feed without facts {feed_plain:.3}s, with them {feed_typed:.3}s ({n_typed} entries'); fold \
         {fold:.3}s ({:.2} us per entry); {n} summaries written in {write:.3}s ({:.2} us each)",
        1e6 * fold / n_typed as f64,
        1e6 * write / n as f64
    );
}
