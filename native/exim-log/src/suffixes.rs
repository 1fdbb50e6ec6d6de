//! Registered domains (`hosts.registered_domain`): `publicsuffixlist`'s `privatesuffix` over the same
//! snapshot the Python package bundles, copied to `data/public_suffix_list.dat` (the Python test
//! `test_native_documents.py` holds the copy byte-equal to the installed package's file).

use crate::tables::FastMap;
use std::sync::OnceLock;

/// A rule's kinds, for one hash of a slice of the name where three sets took up to three: `!x` and
/// `*.x` rules are also kept without their marks (the package's `"!" + s in rules` and `"*." + s in
/// rules`), and every rule as written, marks included, as the package's `s in rules` does.
const EXCEPTION: u8 = 1;
const WILDCARD: u8 = 2;
const PLAIN: u8 = 4;

/// The most labels of a name's tail that are read: the longest rule's and two more (a wildcard's
/// label and the registered domain's). The list's longest rule has 7.
const TAILS: usize = 16;

struct List {
    rules: FastMap<String, u8>,
    maxlabel: usize,
}

impl List {
    fn add(&mut self, s: &str) {
        if let Some(x) = s.strip_prefix('!') {
            *self.rules.entry(x.to_string()).or_default() |= EXCEPTION;
        }
        if let Some(x) = s.strip_prefix("*.") {
            *self.rules.entry(x.to_string()).or_default() |= WILDCARD;
        }
        *self.rules.entry(s.to_string()).or_default() |= PLAIN;
    }
}

fn list() -> &'static List {
    static L: OnceLock<List> = OnceLock::new();
    L.get_or_init(|| {
        let mut l = List {
            rules: FastMap::default(),
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
        assert!(l.maxlabel + 3 <= TAILS, "a rule of {} labels", l.maxlabel);
        l
    })
}

/// `PublicSuffixList._countpublic` with `accept_unknown=True`, for a name of `ll` labels whose last
/// `d` labels start at `tails[d - 1]` (`".".join(labels[i:])` is the tail of `ll - i` labels).
fn count_public(l: &List, name: &str, tails: &[usize; TAILS], ll: usize) -> usize {
    if ll == 1 {
        return 1;
    }
    let start = ll.saturating_sub(l.maxlabel + 1);
    for i in start..ll {
        let depth = ll - i;
        let kinds = l.rules.get(&name[tails[depth - 1]..]).copied().unwrap_or(0);
        if kinds & EXCEPTION != 0 {
            return depth - 1;
        }
        if kinds & WILDCARD != 0 {
            return if i > 0 { depth + 1 } else { depth };
        }
        if kinds & PLAIN != 0 {
            return depth;
        }
    }
    1
}

/// `privatesuffix` of a name: lowercased as `str.lower()` does; the rules are matched as written and,
/// for non-ASCII ones, in their punycode (`xn--`) forms, as the package does.
pub fn private_suffix(name: &str) -> Option<String> {
    let name = crate::text::py_lower(name.strip_suffix('.').unwrap_or(name));
    lowered_private_suffix(&name).map(str::to_string)
}

/// [`private_suffix`] of a name already lowered, its one trailing dot already stripped: a slice of it.
pub(crate) fn lowered_private_suffix(name: &str) -> Option<&str> {
    let l = list();
    // Where the last labels start, found from the end (a `Vec` of every label's start before).
    let mut tails = [0; TAILS];
    let mut ll = 1;
    let mut after = name.len();
    for dot in memchr::memrchr_iter(b'.', name.as_bytes()) {
        // An empty label: a doubled or (after the one stripped) trailing dot.
        if dot + 1 == after {
            return None;
        }
        if ll <= TAILS {
            tails[ll - 1] = dot + 1;
        }
        ll += 1;
        after = dot;
    }
    // An empty first label: a leading dot, or no name.
    if after == 0 {
        return None;
    }
    if ll <= TAILS {
        tails[ll - 1] = 0;
    }
    let n = count_public(l, name, &tails, ll);
    if n == 0 || ll < n + 1 {
        return None;
    }
    Some(&name[tails[n]..])
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
