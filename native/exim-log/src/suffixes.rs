//! Registered domains (`hosts.registered_domain`): `publicsuffixlist`'s `privatesuffix` over the same
//! snapshot the Python package bundles, copied to `data/public_suffix_list.dat` (the Python test
//! `test_native_documents.py` holds the copy byte-equal to the installed package's file).

use std::collections::HashSet;
use std::sync::OnceLock;

struct List {
    rules: HashSet<String>,
    maxlabel: usize,
}

fn list() -> &'static List {
    static L: OnceLock<List> = OnceLock::new();
    L.get_or_init(|| {
        let mut rules = HashSet::new();
        let mut maxlabel = 0;
        for line in include_str!("../data/public_suffix_list.dat").lines() {
            // `u(line).lower().split(" ")[0].rstrip()`
            let lower = line.to_lowercase();
            let s = lower.split(' ').next().unwrap_or("").trim_end();
            if s.is_empty() || s.starts_with("//") {
                continue;
            }
            maxlabel = maxlabel.max(s.matches('.').count() + 1);
            rules.insert(s.to_string());
        }
        List { rules, maxlabel }
    })
}

/// `PublicSuffixList._countpublic` with `accept_unknown=True`.
fn count_public(labels: &[&str]) -> usize {
    let l = list();
    let ll = labels.len();
    if ll == 1 {
        return 1;
    }
    let start = ll.saturating_sub(l.maxlabel + 1);
    for i in start..ll {
        let depth = ll - i;
        let s = labels[i..].join(".");
        if l.rules.contains(&format!("!{s}")) {
            return depth - 1;
        }
        if l.rules.contains(&format!("*.{s}")) {
            return if i > 0 { depth + 1 } else { depth };
        }
        if l.rules.contains(&s) {
            return depth;
        }
    }
    1
}

/// `privatesuffix` of an ASCII name without `xn--` labels (the caller declines the others: the package
/// also matches the punycode forms of its non-ASCII rules).
pub fn private_suffix(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    if labels.contains(&"") {
        return None;
    }
    let n = count_public(&labels);
    if n == 0 || labels.len() < n + 1 {
        return None;
    }
    Some(labels[labels.len() - n - 1..].join("."))
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
    }
}
