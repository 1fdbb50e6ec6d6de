//! Properties over arbitrary bytes: assembly and prefix parsing never panic, the entries hold every
//! byte in order whatever the chunking, and each document's original gives back the entry's bytes.

use base64::Engine;
use exim_log::stream::{Batch, Context, Stream};
use exim_log::timestamps::TimestampConverter;
use exim_log::{prefix, EntryAssembler};
use proptest::prelude::*;

/// Log-like bytes: real prefixes, continuations, CRs, bad UTF-8, odd digits and ids.
fn loggy() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"2025-10-26 02:30:00 ".to_vec()),
        Just(b"2025-03-30 02:30:00.123 +0100 [42] 1tXaaa-00000001abc-0ABC ".to_vec()),
        Just(b"9999-12-31 23:59:59 -2359 10HmaX-0005vi-00 ".to_vec()),
        Just(b"0001-01-01 00:00:00 +0100 ".to_vec()),
        Just(b"2025-02-29 24:61:99 ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"  continued".to_vec()),
        Just(b"\xff\xe2\x82".to_vec()),
        Just("é\u{2028}\"\\\t".as_bytes().to_vec()),
        proptest::collection::vec(any::<u8>(), 0..24),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

fn entries(
    data: &[u8],
    chunk: usize,
    max_entry: usize,
    max_line: usize,
) -> Vec<exim_log::RawEntry> {
    let mut asm = EntryAssembler::new(0);
    asm.max_entry = max_entry;
    asm.max_line = max_line;
    let mut out = Vec::new();
    for c in data.chunks(chunk) {
        asm.feed(c, &mut out);
    }
    asm.finish_into(&mut out);
    out
}

fn original(doc: &[u8]) -> Vec<u8> {
    // The parsed document's `exim.original_base64`, else its `event.original`, decoded the simple way:
    // this is a test of the writer, so it reads the JSON back with a tiny scanner.
    let text = std::str::from_utf8(doc).unwrap();
    if let Some(i) = text.find("\"original_base64\":\"") {
        let rest = &text[i + 19..];
        let b64 = &rest[..rest.find('"').unwrap()];
        return base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
    }
    let i = text.find("\"original\":\"").unwrap() + 12;
    let mut out = String::new();
    let mut chars = text[i..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next().unwrap() {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\x08'),
                'f' => out.push('\x0c'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    out.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn assembly_keeps_every_byte_in_order_whatever_the_chunking(
        data in loggy(), chunk in 1usize..40, max_entry in 8usize..200, max_line in 8usize..200,
    ) {
        let got = entries(&data, chunk, max_entry, max_line);
        let mut back = Vec::new();
        let mut pos = 0u64;
        for e in &got {
            prop_assert_eq!(e.offset, pos);
            back.extend_from_slice(&e.data);
            if e.terminated {
                back.push(b'\n');
            }
            prop_assert_eq!(e.end, back.len() as u64);
            pos = e.end;
        }
        prop_assert_eq!(back, data.clone());
        // Chunking never changes the entries unless a partial line was cut by the line limit.
        if got.iter().all(|e| e.terminated || e.end == data.len() as u64) {
            prop_assert_eq!(entries(&data, 1 << 20, max_entry, max_line), got);
        }
    }

    #[test]
    fn prefix_parsing_never_panics_and_stays_inside_the_line(line in "\\PC{0,60}") {
        if let Some(p) = prefix::parse(&line) {
            prop_assert!(p.end <= line.len());
            prop_assert!(line.is_char_boundary(p.end));
        }
    }

    #[test]
    fn every_entry_gives_two_lines_whose_original_round_trips(data in loggy(), chunk in 1usize..64) {
        for zone in ["UTC", "Europe/Berlin", "Pacific/Apia", "America/St_Johns"] {
            let ctx = Context { server: "mx".into(), dataset: "exim.main".into(), path: "p".into(), index_prefix: "x".into() };
            let mut s = Stream::new(ctx, TimestampConverter::from_name(zone).unwrap(), 0);
            let mut batch = Batch::default();
            for c in data.chunks(chunk) {
                s.feed(c, &mut batch);
            }
            s.finish(&mut batch);
            let mut pos = 0usize;
            for r in &batch.entries {
                prop_assert_eq!(r.flags & exim_log::stream::flags::PANICKED, 0);
                let lines = &batch.bulk[pos..pos + r.bulk_len as usize];
                let doc = &lines[r.action_len as usize + 1..lines.len() - 1];
                prop_assert!(!doc.contains(&b'\n'));
                let back = original(doc);
                let entry = &data[r.offset as usize..r.end as usize];
                let entry = entry.strip_suffix(b"\n").unwrap_or(entry);
                prop_assert_eq!(back, entry.to_vec());
                pos += r.bulk_len as usize;
            }
            prop_assert_eq!(pos, batch.bulk.len());
        }
    }
}

/// The plain reading of orjson's escaping, one character at a time.
fn reference_json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

proptest! {
    #[test]
    fn json_strings_equal_the_plain_escaping(s in "(\\PC|[\\x00-\\x1f\"\\\\])*") {
        let mut out = Vec::new();
        exim_log::json::write_str(&mut out, &s);
        prop_assert_eq!(String::from_utf8(out).unwrap(), reference_json(&s));
    }
}
