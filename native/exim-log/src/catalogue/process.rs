//! `process_lines.py`: daemon, queue-runner and process lines (start, stop, SIGHUP, queue runs,
//! `cwd=`) and their failures.

use super::rule::{h_text_error, h_who, Rule};
use super::{group, int, rule, took_part};
use crate::body::{Event, Obj};
use crate::doc::Value;
use crate::fields::unescape;
use regex::{Captures, Regex};
use std::sync::OnceLock;

struct Res {
    queue: Regex,
    ports: Regex,
    home: Regex,
    args: Regex,
}

fn res() -> &'static Res {
    static R: OnceLock<Res> = OnceLock::new();
    R.get_or_init(|| Res {
        queue: Regex::new(&super::python_spaces(r"(?:^|, )(-q[^\s,]*(?: -q[^\s,]*)*)"))
            .expect("queue"),
        ports: Regex::new(r"(?:port |\]:)(\d+)").expect("ports"),
        home: Regex::new(r"\A/home\d*/([^/]+)").expect("home"),
        args: Regex::new(&super::python_spaces(r#""((?:[^"\\]|\\.)*)"|(\S+)"#)).expect("args"),
    })
}

/// `m.group("pid").lstrip("p")` when it is all digits.
fn pid(ev: &mut Event, m: &Captures<'_>) {
    let p = took_part(m, "pid").unwrap_or("").trim_start_matches('p');
    if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(n) = int(p) {
            ev.sec("process").insert("pid".into(), n.into());
        }
    }
}

fn h_daemon(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    ev.exim
        .insert("version".into(), took_part(m, "v").unwrap_or("").into());
    pid(ev, m);
    let rest = took_part(m, "rest").unwrap_or("");
    let mut daemon = Obj::new();
    daemon.insert("options".into(), rest.into());
    let r = res();
    if let Some(q) = r.queue.captures(rest).and_then(|c| c.get(1)) {
        daemon.insert("queue_interval".into(), q.as_str().into());
    }
    let mut ports: Vec<u64> = Vec::new();
    for c in r.ports.captures_iter(rest) {
        ports.extend(int(c.get(1).map_or("", |g| g.as_str())));
    }
    ports.sort_unstable();
    ports.dedup();
    if !ports.is_empty() {
        daemon.insert("ports".into(), ports.into());
    }
    ev.exim.insert("daemon".into(), daemon.into());
    None
}

fn h_pid(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    pid(ev, m);
    if let Some(q) = group(m, "q") {
        ev.exim.insert("queue".into(), q.into());
    }
    if let Some(args) = group(m, "args").map(str::trim).filter(|a| !a.is_empty()) {
        ev.exim.insert("queue_run_args".into(), args.into());
    }
    None
}

fn h_cwd(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let mut args: Vec<Value> = Vec::new();
    for c in res().args.captures_iter(took_part(m, "args").unwrap_or("")) {
        match (c.get(1), c.get(2)) {
            (Some(q), _) => args.push(unescape(q.as_str()).into()),
            (None, Some(w)) => args.push(w.as_str().into()),
            (None, None) => {}
        }
    }
    let cwd = took_part(m, "cwd").unwrap_or("");
    // The body may be beyond ASCII here: the pattern's Unicode `\d`.
    let user = res()
        .home
        .captures(cwd)
        .and_then(|c| c.get(1))
        .map(|u| u.as_str());
    cwd_fields(ev, cwd, took_part(m, "n").unwrap_or(""), args, user);
    None
}

/// `h_cwd`'s fields from its three groups and the arguments already split.
fn cwd_fields(ev: &mut Event, cwd: &str, n: &str, args: Vec<Value>, user: Option<&str>) {
    let n = int(n);
    let proc = ev.sec("process");
    proc.insert("working_directory".into(), cwd.into());
    if let Some(first) = args.first().cloned() {
        proc.insert("executable".into(), first);
    }
    proc.insert("args".into(), args.into());
    if let Some(n) = n {
        proc.insert("args_count".into(), n.into());
    }
    // cPanel: every local `sendmail` call runs from the submitting account's home directory.
    if let Some(user) = user {
        ev.exim.insert("cpanel_user".into(), user.into());
    }
}

/// `res().home`'s group read by hand on ASCII text (`\A/home\d*/([^/]+)`).
fn home_user(cwd: &str) -> Option<&str> {
    let rest = cwd.strip_prefix("/home")?;
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix('/')?;
    let end = rest.find('/').unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The rules' `\s` on ASCII text: Python's, with `\x1c`-`\x1f` (`super::python_spaces`).
fn ascii_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ')
}

/// `res().args.captures_iter` on ASCII text, read by hand: each word, or a `"…"` whose backslashes
/// each escape one character but a newline (`\\.`), unescaped.
fn split_args(text: &str) -> Vec<Value> {
    let b = text.as_bytes();
    let n = b.len();
    let mut args = Vec::new();
    let mut i = 0;
    while i < n {
        if ascii_space(b[i]) {
            i += 1;
            continue;
        }
        if b[i] == b'"' {
            let mut j = i + 1;
            let close = loop {
                match b.get(j) {
                    Some(b'"') => break Some(j),
                    Some(b'\\') if b.get(j + 1).is_some_and(|&c| c != b'\n') => j += 2,
                    Some(b'\\') | None => break None,
                    Some(_) => j += 1,
                }
            };
            if let Some(e) = close {
                args.push(unescape(&text[i + 1..e]).into());
                i = e + 1;
                continue;
            }
        }
        let e = b[i..]
            .iter()
            .position(|&c| ascii_space(c))
            .map_or(n, |k| i + k);
        args.push(text[i..e].into());
        i = e;
    }
    args
}

const CWD: &str = "cwd=";
const ARGS: &str = " args: ";

/// `process_started` (`cwd=<dir> <n> args: <args>`) read by hand on an ASCII body whose directory
/// holds no space: the first space is then the one the rule's lazy `cwd` group stops at, and the
/// body's first word is no rule's before this one (the auth rules' `\S+ authenticator`, the only
/// ones that could start with `cwd=`, need that word next). Anything else (`None`) goes to the rules.
pub(crate) fn fast(ev: &mut Event, body: &str) -> Option<&'static str> {
    let rest = body.strip_prefix(CWD)?;
    let b = rest.as_bytes();
    let space = memchr::memchr(b' ', b)?;
    if b[..space].iter().any(|&c| ascii_space(c)) {
        return None;
    }
    let digits = b[space + 1..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let after = space + 1 + digits;
    if digits == 0 || !rest[after..].starts_with(ARGS) {
        return None;
    }
    let args = split_args(&rest[after + ARGS.len()..]);
    let cwd = &rest[..space];
    cwd_fields(ev, cwd, &rest[space + 1..after], args, home_user(cwd));
    Some("process_started")
}

fn h_sighup(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    if let Some(p) = int(took_part(m, "pid").unwrap_or("")) {
        ev.sec("process").insert("pid".into(), p.into());
    }
    None
}

/// `PROCESS_RULES`, in Python's order.
pub fn rules() -> Vec<Rule> {
    vec![
        rule(
            "daemon_started",
            r"(?s)exim (?P<v>\S+) daemon started: pid=(?P<pid>\w+), (?P<rest>.*)",
            Some(h_daemon),
        ),
        rule(
            "daemon_sighup",
            r"(?s)pid (?P<pid>\d+): SIGHUP received",
            Some(h_sighup),
        ),
        rule(
            "daemon_stopped",
            r"(?s)exim (?P<v>\S+) daemon (?:terminating|shutting down)(?P<why>.*)",
            Some(h_who),
        ),
        rule(
            "queue_run_started",
            r"(?s)Start (?:ODMR )?(?:'(?P<q>[^']*)' )?queue run: pid=(?P<pid>\w+)(?P<args>.*)",
            Some(h_pid),
        ),
        rule(
            "queue_run_ended",
            r"(?s)End (?:ODMR )?(?:'(?P<q>[^']*)' )?queue run: pid=(?P<pid>\w+)(?P<args>.*)",
            Some(h_pid),
        ),
        rule(
            "queue_run_abandoned",
            r"(?s)Abandon queue run: pid=(?P<pid>\w+)(?P<args>.*)",
            Some(h_pid),
        ),
        rule(
            "queue_run_triggered",
            r"(?s)notify triggered queue run",
            None,
        ),
        rule(
            "process_started",
            r"(?s)cwd=(?P<cwd>.*?) (?P<n>\d+) args: (?P<args>.*)",
            Some(h_cwd),
        ),
        rule(
            "daemon_error",
            concat!(
                r"(?s)(?:\d+ (?:accept|select)\(\) failures?|socket bind\(\) to port \d+|daemon: fork of|",
                r"fork of (?:delivery|queue-runner) process|failed to (?:open|bind|listen)|bind of \S+ failed)",
                r"(?P<rest>.*)"
            ),
            Some(h_text_error),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_rules(body: &str) -> bool {
        super::super::fast_equals_rules(fast, body)
    }

    #[test]
    fn the_hand_read_cwd_lines_equal_the_rules() {
        let read = [
            "cwd=/var/spool/exim 7 args: /usr/sbin/exim -t -oem -oi -f <> -E1txxrQ-000u39-If",
            "cwd=/home/southbri/public_html/shop 3 args: /usr/sbin/sendmail -t -i",
            "cwd=/home2/bob/public_html 4 args: /usr/sbin/sendmail -t -i \"a \\\"b\\\" c\"",
            "cwd=/home2/bob 2 args: /usr/sbin/sendmail \"unclosed",
            "cwd=/home/ 2 args: x",
            "cwd=/home 2 args: x",
            "cwd=/homes/x 2 args: x",
            "cwd=/home12x/y 2 args: x",
            "cwd=/home123/y/z 2 args: x",
            "cwd= 0 args: ",
            "cwd=/ 1 args: \"\"",
            "cwd=/ 1 args: a\"b\" \"c d\"e \"\\q\" \"\\",
            "cwd=/ 1 args: \"a\\\nb\" c",
            "cwd=/ 2 args: \"a\nb\"\t\x0bc\x0c\r d  ",
            "cwd=/ 3 args: \"\\101\\n\" \\t",
            "cwd=/ 99999999999999999999999 args: x",
            "cwd=/x 3 args: a 4 args: b",
            "cwd=/x 3 args:  two spaces",
            "cwd=/x 3 args: line\nnext",
        ];
        for body in read {
            assert!(same_as_rules(body), "not read by hand: {body}");
        }
        // Forms left to the rules (a later space, another rule or no match decides).
        let left = [
            "cwd=/my dir 3 args: x",
            "cwd=/x\t3 args: x",
            "cwd=/x 3 args:x",
            "cwd=/x x3 args: x",
            "cwd=/x  3 args: x",
            "cwd=/x authenticator failed for 3 args: x",
            "cwd=/x",
            "cwd /x 3 args: x",
        ];
        for body in left {
            assert!(!same_as_rules(body), "read by hand: {body}");
        }
        // The arguments' quoting in every combination, against the rules.
        let parts = [
            "a", "\"b c\"", "\"", "\\", "\"\\\"\"", "\"x\\", " ", "\t", "\n", "\"\\\n\"",
        ];
        let mut n = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    n += usize::from(same_as_rules(&format!("cwd=/home/u/d 3 args: {a}{b} {c}")));
                }
            }
        }
        assert_eq!(n, parts.len().pow(3));
    }

    #[test]
    fn no_rule_before_process_started_can_start_with_cwd() {
        // `fast` takes `cwd=` bodies before the rules: each earlier rule whose key does not rule them
        // out starts with one of these (audited: none takes `cwd=` and a first word without space but
        // the auth rules' `\S+`, which need ` authenticator`/` cancelled` next, not `<digits> args: `).
        let audited = [
            r"(?s)(?P<temp>temporarily )?rejected ",
            r"(?s)(?P<temp>temporarily )?refused ",
            r"(?s)[Tt]oo many",
            r"(?s)\[",
            r"(?s)(?P<cmd>ETRN|ATRN) ",
            r"(?s)(?P<auth>\S+) ",
        ];
        let c = super::super::compiled();
        for &i in &c.by_first[usize::from(b'c')] {
            let (rule, _, key) = &c.rules[i];
            if rule.action == "process_started" {
                return;
            }
            if "cwd".starts_with(key.as_str()) {
                assert!(
                    audited.iter().any(|p| rule.pattern.starts_with(p)),
                    "{} ({}) may match a cwd= body",
                    rule.action,
                    rule.pattern
                );
            }
        }
        panic!("process_started not among the rules for `c`");
    }
}
