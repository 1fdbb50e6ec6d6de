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
            if let Some(x) = s.strip_prefix('!') {
                l.exceptions.insert(x.to_string(), ());
            }
            if let Some(x) = s.strip_prefix("*.") {
                l.wildcards.insert(x.to_string(), ());
            }
            l.plain.insert(s.to_string(), ());
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

/// `privatesuffix` of an ASCII name without `xn--` labels (the caller declines the others: the package
/// also matches the punycode forms of its non-ASCII rules).
pub fn private_suffix(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
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
    }
}
