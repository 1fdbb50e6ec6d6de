//! Registered domains (`hosts.registered_domain`): `publicsuffixlist`'s `privatesuffix` over the same
//! snapshot the Python package bundles, copied to `data/public_suffix_list.dat` (the Python test
//! `test_native_documents.py` holds the copy byte-equal to the installed package's file).

use crate::tables::FastMap;
use std::sync::OnceLock;

/// The rules as three sets, so a lookup is one hash of a slice of the name: `!x` and `*.x` rules are
/// also kept without their marks (the package's `"!" + s in rules` and `"*." + s in rules`), and
/// `plain` holds every rule as written, marks included, as the package's `s in rules` does.
struct List {
    plain: FastMap<String, ()>,
    exceptions: FastMap<String, ()>,
    wildcards: FastMap<String, ()>,
    maxlabel: usize,
}

impl List {
    fn add(&mut self, s: &str) {
        if let Some(x) = s.strip_prefix('!') {
            self.exceptions.insert(x.to_string(), ());
        }
        if let Some(x) = s.strip_prefix("*.") {
            self.wildcards.insert(x.to_string(), ());
        }
        self.plain.insert(s.to_string(), ());
    }
}

fn list() -> &'static List {
    static L: OnceLock<List> = OnceLock::new();
    L.get_or_init(|| {
        let mut l = List {
            plain: FastMap::default(),
            exceptions: FastMap::default(),
            wildcards: FastMap::default(),
            maxlabel: 0,
        };
        for line in include_str!("../data/public_suffix_list.dat").lines() {
            // `u(line).lower().split(" ")[0].rstrip()`
            let lower = line.to_lowercase();
            let s = lower.split(' ').next().unwrap_or("").trim_end();
            if s.is_empty() || s.starts_with("//") {
                continue;
            }
            l.maxlabel = l.maxlabel.max(s.matches('.').count() + 1);
            l.add(s);
            if !s.is_ascii() {
                // `accept_encoded_idn`: the rule's `idna` form too, so `xn--` names match it.
                let (mark, bare) = s.strip_prefix('!').map_or(("", s), |b| ("!", b));
                let labels: Vec<String> = bare.split('.').map(crate::text::idna_label).collect();
                l.add(&format!("{mark}{}", labels.join(".")));
            }
        }
        l
    })
}

/// `PublicSuffixList._countpublic` with `accept_unknown=True`; `starts[i]` is where label `i` starts
/// in `name`, so `".".join(labels[i:])` is `name[starts[i]..]`.
fn count_public(name: &str, starts: &[usize]) -> usize {
    let l = list();
    let ll = starts.len();
    if ll == 1 {
        return 1;
    }
    let start = ll.saturating_sub(l.maxlabel + 1);
    for i in start..ll {
        let depth = ll - i;
        let s = &name[starts[i]..];
        if l.exceptions.contains_key(s) {
            return depth - 1;
        }
        if l.wildcards.contains_key(s) {
            return if i > 0 { depth + 1 } else { depth };
        }
        if l.plain.contains_key(s) {
            return depth;
        }
    }
    1
}

/// `privatesuffix` of a name: lowercased as `str.lower()` does; the rules are matched as written and,
/// for non-ASCII ones, in their punycode (`xn--`) forms, as the package does.
pub fn private_suffix(name: &str) -> Option<String> {
    let name = crate::text::py_lower(name.strip_suffix('.').unwrap_or(name));
    let mut starts: Vec<usize> = Vec::with_capacity(8);
    starts.push(0);
    starts.extend(memchr::memchr_iter(b'.', name.as_bytes()).map(|k| k + 1));
    // An empty label: a leading, doubled or (after the one stripped) trailing dot.
    let ends = starts[1..].iter().map(|&k| k - 1).chain([name.len()]);
    if starts.iter().zip(ends).any(|(&a, b)| a == b) {
        return None;
    }
    let n = count_public(&name, &starts);
    if n == 0 || starts.len() < n + 1 {
        return None;
    }
    Some(name[starts[starts.len() - n - 1]..].to_string())
}

#[cfg(test)]
mod tests {
    use super::private_suffix;

    #[test]
    fn registered_domains_as_the_python_package() {
        assert_eq!(
            private_suffix("mx1.mail.example.co.uk").as_deref(),
            Some("example.co.uk")
        );
        assert_eq!(
            private_suffix("gmail-smtp-in.l.google.com").as_deref(),
            Some("google.com")
        );
        assert_eq!(private_suffix("co.uk"), None);
        assert_eq!(private_suffix("localhost"), None);
        assert_eq!(
            private_suffix("host.unknowntld").as_deref(),
            Some("host.unknowntld")
        );
        assert_eq!(private_suffix("a..b"), None);
        assert_eq!(private_suffix(".example.com"), None);
        assert_eq!(private_suffix("example.com.."), None);
        assert_eq!(private_suffix(""), None);
        assert_eq!(
            private_suffix("EXAMPLE.com.").as_deref(),
            Some("example.com")
        );
        // A wildcard rule (`*.ck`) and its exception (`!www.ck`).
        assert_eq!(private_suffix("a.b.ck").as_deref(), Some("a.b.ck"));
        assert_eq!(private_suffix("www.ck").as_deref(), Some("www.ck"));
        // Non-ASCII names and their punycode forms, as the package reads them (`中国` and
        // `公司.cn` are rules: `xn--fiqs8s`, `xn--55qx5d.cn`).
        assert_eq!(
            private_suffix("Mail.例子.中国").as_deref(),
            Some("例子.中国")
        );
        assert_eq!(
            private_suffix("mail.xn--fsqu00a.XN--fiqs8s").as_deref(),
            Some("xn--fsqu00a.xn--fiqs8s")
        );
        assert_eq!(
            private_suffix("a.b.xn--55qx5d.cn").as_deref(),
            Some("b.xn--55qx5d.cn")
        );
        assert_eq!(private_suffix("hebrew.ΛΑΣ.com").as_deref(), Some("λασ.com"));
    }
}
