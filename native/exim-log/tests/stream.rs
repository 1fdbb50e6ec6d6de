//! The stream's bulk lines against the Python pipeline's (`Shipper._item`) for entries the Python
//! parser leaves `unrecognized`, and its panic isolation, resume point and records.

use exim_log::stream::{flags, Batch, Context, EntryOut, Output, Stream, RECORD_SIZE};
use exim_log::timestamps::TimestampConverter;

/// The log `tests/data/python_prefix.ndjson` was made from (by Python, zone Europe/Berlin, server mx1).
const LOG: &[u8] = b"2025-01-01 10:00:00 hello\n\
2025-01-01 10:00:00.123 +0100 [12] 1tXaaa-00000001abc-0ABC  whatever \xff\n\
no prefix \"quoted\" \\ \t\n\
2025-02-30 10:00:00 10HmaX-0005vi-00 bad day\n\
2025-01-01 10:00:00 hello\n\
2025-10-26 02:30:00 x\n2025-10-26 02:59:00 x\n2025-10-26 02:30:00 x\n";

fn stream(start: u64) -> Stream {
    let ctx = Context {
        server: "mx1".into(),
        dataset: "exim.main".into(),
        path: "/var/log/exim4/mainlog".into(),
        index_prefix: "exim".into(),
    };
    Stream::new(
        ctx,
        TimestampConverter::from_name("Europe/Berlin").unwrap(),
        start,
    )
}

fn run(s: &mut Stream, data: &[u8], chunk: usize) -> Batch {
    let mut batch = Batch::default();
    for c in data.chunks(chunk) {
        s.feed(c, &mut batch);
    }
    s.finish(&mut batch);
    batch
}

#[test]
fn bulk_lines_equal_the_python_pipelines_byte_for_byte() {
    let want = include_bytes!("data/python_prefix.ndjson");
    for chunk in [1, 5, 64, 1 << 20] {
        let batch = run(&mut stream(0), LOG, chunk);
        assert_eq!(
            String::from_utf8_lossy(&batch.bulk),
            String::from_utf8_lossy(want),
            "chunk {chunk}"
        );
    }
}

#[test]
fn records_locate_each_entrys_lines_and_carry_its_facts() {
    let batch = run(&mut stream(0), LOG, 1 << 20);
    let e = &batch.entries;
    assert_eq!(e.len(), 7);
    let mut pos = 0usize;
    for r in e {
        let lines = &batch.bulk[pos..pos + r.bulk_len as usize];
        assert_eq!(lines[r.action_len as usize], b'\n');
        assert!(lines.starts_with(b"{\"create\":"));
        assert!(lines.ends_with(b"}\n"));
        pos += r.bulk_len as usize;
    }
    assert_eq!(pos, batch.bulk.len());
    assert_eq!(e[1].local_id(), "1tXaaa-00000001abc-0ABC");
    assert_eq!((e[1].pid, e[1].flags & flags::HAS_PID != 0), (12, true));
    assert_ne!(e[1].flags & flags::BAD_UTF8, 0);
    assert_eq!((e[1].offset, e[1].end), (26, 120));
    assert_eq!(e[1].timestamp_ms, 1_735_722_000_123);
    assert_ne!(e[2].flags & flags::INVALID_TIMESTAMP, 0);
    assert_eq!(
        e[2].timestamp_ms, e[1].timestamp_ms,
        "an impossible date inherits the last good stamp"
    );
    assert_eq!(e[2].local_id(), "10HmaX-0005vi-00");
    assert_eq!(
        e[3].occurrence, 0,
        "a second in between resets the twin count"
    );
    assert_eq!(e[6].flags & flags::SECOND_PASS, flags::SECOND_PASS);
    assert_eq!(e[6].end, LOG.len() as u64);
    let mut bytes = Vec::new();
    for r in e {
        r.write_le(&mut bytes);
    }
    assert_eq!(bytes.len(), RECORD_SIZE * e.len());
}

#[test]
fn twins_in_one_second_get_their_own_ids() {
    let log = b"2025-01-01 10:00:00 a\n2025-01-01 10:00:00 a\n2025-01-01 10:00:00 a\n";
    let batch = run(&mut stream(0), log, 1 << 20);
    let occ: Vec<u32> = batch.entries.iter().map(|r| r.occurrence).collect();
    assert_eq!(occ, [0, 1, 2]);
    let actions: Vec<&[u8]> = batch
        .bulk
        .split(|&c| c == b'\n')
        .step_by(2)
        .take(3)
        .collect();
    assert_ne!(actions[0], actions[1]);
    assert_ne!(actions[1], actions[2]);
}

fn explode(body: &str) -> u8 {
    assert!(!body.contains("boom"), "the catalogue broke on {body}");
    0
}

#[test]
fn a_panic_costs_its_entry_detail_only() {
    let mut s = stream(0);
    s.classify = explode;
    let log = b"2025-01-01 10:00:00 [7] 1tXaaa-00000001abc-0ABC boom\n2025-01-01 10:00:01 fine\n";
    let batch = run(&mut s, log, 1 << 20);
    let e: &Vec<EntryOut> = &batch.entries;
    assert_eq!(e.len(), 2);
    assert_ne!(e[0].flags & flags::PANICKED, 0);
    assert_eq!(e[1].flags & flags::PANICKED, 0);
    let text = String::from_utf8(batch.bulk).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with(r#"{"@timestamp":"2025-01-01T09:00:00.000Z","process":{"pid":7},"email":{"local_id":"1tXaaa-00000001abc-0ABC"},"event":{"original":"2025-01-01 10:00:00 [7] 1tXaaa-00000001abc-0ABC boom","action":"unrecognized""#), "{}", lines[1]);
    assert!(
        lines[1].contains(r#""exim":{"parse_error":"panic: the catalogue broke on boom"}"#),
        "{}",
        lines[1]
    );
    assert!(lines[3].contains(r#""original":"2025-01-01 10:00:01 fine""#));
}

#[test]
fn entries_up_to_the_resume_point_are_counted_not_emitted() {
    let log = b"2025-01-01 10:00:00 a\n2025-01-01 10:00:00 a\n";
    let mut s = stream(0);
    s.resume = 22;
    let batch = run(&mut s, log, 1 << 20);
    assert_eq!(batch.entries.len(), 1);
    assert_eq!(
        (batch.entries[0].offset, batch.entries[0].occurrence),
        (22, 1)
    );
}

#[test]
fn a_start_offset_moves_every_offset() {
    let batch = run(&mut stream(1000), b"2025-01-01 10:00:00 a\n", 1 << 20);
    assert_eq!(
        (batch.entries[0].offset, batch.entries[0].end),
        (1000, 1022)
    );
    assert!(String::from_utf8(batch.bulk)
        .unwrap()
        .contains(r#""offset":1000}"#));
}

/// The documents of a batch, parsed (every second bulk line).
fn documents(batch: &Batch) -> Vec<serde_json::Value> {
    batch
        .bulk
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .skip(1)
        .step_by(2)
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
fn an_impossible_time_and_an_unrecognized_line_get_what_python_writes() {
    // Formerly the placeholder, then Python's parser; now the core's document is the entry's (CPython's
    // `EntryParser` + `enrich` on the same log: these fields).
    let log = b"2025-01-01 10:00:00 x\n\
2025-02-30 10:00:00 1tXaaa-00000001abc-0ABC Completed QT=1s\n\
2025-01-01 10:00:01 odd line refused here\n\
2025-01-01 10:00:02 1tXaaa-00000001abc-0ABC weird\nEnvelope-from: <a@b.example>\nT Subject: hi\n";
    let batch = run(&mut stream(0), log, 1 << 20);
    let docs = documents(&batch);
    assert_eq!(docs.len(), 4);
    let late = &docs[1];
    assert_eq!(late["event"]["action"], "message_completed");
    assert_ne!(batch.entries[1].action, 0);
    assert_eq!(late["tags"], serde_json::json!(["invalid_timestamp"]));
    assert_eq!(late["exim"]["timestamp_raw"], "2025-02-30 10:00:00");
    assert_eq!(late["exim"]["queue_time"], 1.0);
    assert_eq!(late["@timestamp"], docs[0]["@timestamp"]);
    let odd = &docs[2];
    assert_eq!(odd["event"]["action"], "unrecognized");
    assert_eq!(
        odd["exim"]["eximstats"],
        serde_json::json!({"reject": "permanent", "reason": "Unknown", "ip": "local"})
    );
    let dump = &docs[3];
    assert_eq!(dump["event"]["action"], "unrecognized");
    assert_eq!(batch.entries[3].action, 0);
    assert_eq!(dump["exim"]["envelope_from"], "a@b.example");
    assert_eq!(dump["exim"]["header_names"], serde_json::json!(["Subject"]));
    assert_eq!(dump["email"]["subject"], "hi");
}

/// The bundled sample (read, not embedded: the install stamp follows what the module embeds), then
/// [`LOG`]: message lines with facts, unrecognized lines, bad UTF-8, no prefix, a repeated hour.
fn sample_and_log() -> Vec<u8> {
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shipper/samples/exim_mainlog"
    );
    let mut log = std::fs::read(sample).expect("the bundled sample");
    log.extend_from_slice(LOG);
    log
}

fn read_as(output: Output, data: &[u8], chunk: usize) -> Batch {
    let mut s = stream(0);
    s.output = output;
    s.typed_facts = true;
    run(&mut s, data, chunk)
}

#[test]
fn documents_alone_are_the_bulk_lines_documents_and_nothing_is_nothing_with_the_same_facts() {
    let log = sample_and_log();
    for chunk in [1 << 20, 97] {
        let bulk = read_as(Output::Bulk, &log, chunk);
        let docs = read_as(Output::Documents, &log, chunk);
        let nothing = read_as(Output::Nothing, &log, chunk);
        assert!(bulk.entries.len() > 25, "{}", bulk.entries.len());
        let mut want = Vec::new();
        let mut pos = 0;
        for e in &bulk.entries {
            let end = pos + e.bulk_len as usize;
            want.extend_from_slice(&bulk.bulk[pos + e.action_len as usize + 1..end]);
            pos = end;
        }
        assert_eq!(docs.bulk, want);
        assert!(nothing.bulk.is_empty());
        // The same records but for what each leaves out.
        for ((b, d), n) in bulk.entries.iter().zip(&docs.entries).zip(&nothing.entries) {
            let doc_len = b.bulk_len - b.action_len - 1;
            let lighter = |bulk_len| EntryOut {
                bulk_len,
                action_len: 0,
                occurrence: 0,
                ..b.clone()
            };
            assert_eq!(*d, lighter(doc_len));
            assert_eq!(*n, lighter(0));
        }
        assert_eq!(bulk.entries.len(), docs.entries.len());
        assert_eq!(bulk.entries.len(), nothing.entries.len());
        assert!(!bulk.parts.is_empty());
        // `parse --messages` enriches a document for its facts alone: the provider among them.
        let providers = format!("{:?}", bulk.parts).matches("\"provider\"").count();
        assert!(providers > 0, "the log has a message to a known provider");
        assert_eq!(docs.parts, bulk.parts);
        assert_eq!(nothing.parts, bulk.parts);
    }
}
