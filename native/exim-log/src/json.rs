//! JSON written straight into the bulk buffer, byte-identical to `orjson.dumps` of the same dict
//! (compact, keys in insertion order, UTF-8 as is, only `"`, `\` and control characters escaped).

/// Appends one JSON value at a time; objects and arrays track their own commas.
#[derive(Debug)]
pub struct JsonWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Per open container: whether it already holds a member.
    open: Vec<bool>,
    after_key: bool,
}

impl<'a> JsonWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            open: Vec::new(),
            after_key: false,
        }
    }

    fn sep(&mut self) {
        if self.after_key {
            self.after_key = false;
            return;
        }
        if let Some(has) = self.open.last_mut() {
            if *has {
                self.out.push(b',');
            }
            *has = true;
        }
    }

    pub fn begin_object(&mut self) -> &mut Self {
        self.sep();
        self.out.push(b'{');
        self.open.push(false);
        self
    }

    pub fn end_object(&mut self) -> &mut Self {
        self.open.pop();
        self.out.push(b'}');
        self
    }

    pub fn begin_array(&mut self) -> &mut Self {
        self.sep();
        self.out.push(b'[');
        self.open.push(false);
        self
    }

    pub fn end_array(&mut self) -> &mut Self {
        self.open.pop();
        self.out.push(b']');
        self
    }

    pub fn key(&mut self, k: &str) -> &mut Self {
        self.sep();
        write_str(self.out, k);
        self.out.push(b':');
        self.after_key = true;
        self
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.sep();
        write_str(self.out, s);
        self
    }

    pub fn int(&mut self, n: i64) -> &mut Self {
        self.sep();
        self.out.extend_from_slice(n.to_string().as_bytes());
        self
    }

    pub fn uint(&mut self, n: u64) -> &mut Self {
        self.sep();
        self.out.extend_from_slice(n.to_string().as_bytes());
        self
    }

    pub fn bool(&mut self, b: bool) -> &mut Self {
        self.sep();
        self.out
            .extend_from_slice(if b { b"true" } else { b"false" });
        self
    }

    /// `"key": "value"` in one call.
    pub fn field(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k).str(v)
    }
}

/// A JSON string as orjson writes it: `\"`, `\\`, `\b \t \n \f \r`, other controls as `\u00xx`.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 15)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_orjson_does() {
        // orjson.dumps('\x00\x1f\x7f"\\/\u2028é\t\n\r\b\f')
        let mut out = Vec::new();
        write_str(&mut out, "\x00\x1f\x7f\"\\/\u{2028}é\t\n\r\x08\x0c");
        assert_eq!(
            out,
            "\"\\u0000\\u001f\x7f\\\"\\\\/\u{2028}é\\t\\n\\r\\b\\f\"".as_bytes()
        );
    }

    #[test]
    fn nested_objects_and_arrays_are_compact() {
        let mut out = Vec::new();
        let mut w = JsonWriter::new(&mut out);
        w.begin_object()
            .field("a", "x")
            .key("b")
            .begin_array()
            .str("1")
            .str("2")
            .end_array();
        w.key("c")
            .begin_object()
            .key("d")
            .int(-3)
            .key("e")
            .bool(true)
            .end_object()
            .key("f")
            .uint(7);
        w.key("g").begin_object().end_object().end_object();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":"x","b":["1","2"],"c":{"d":-3,"e":true},"f":7,"g":{}}"#
        );
    }
}
