//! `process_lines.py`: daemon, queue-runner and process lines (start, stop, SIGHUP, queue runs,
//! `cwd=`) and their failures.

use super::rule::{h_text_error, h_who, Rule};
use super::{group, int, rule, took_part};
use crate::body::{Event, Obj, R};
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
fn pid(ev: &mut Event, m: &Captures<'_>) -> R<()> {
    let p = took_part(m, "pid").unwrap_or("").trim_start_matches('p');
    if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(n) = int(p) {
            ev.sec("process").insert("pid".into(), n.into());
        }
    }
    Ok(())
}

fn h_daemon(ev: &mut Event, m: &Captures<'_>) -> R<Option<&'static str>> {
    ev.exim
        .insert("version".into(), took_part(m, "v").unwrap_or("").into());
    pid(ev, m)?;
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
    Ok(None)
}

fn h_pid(ev: &mut Event, m: &Captures<'_>) -> R<Option<&'static str>> {
    pid(ev, m)?;
    if let Some(q) = group(m, "q") {
        ev.exim.insert("queue".into(), q.into());
    }
    if let Some(args) = group(m, "args").map(str::trim).filter(|a| !a.is_empty()) {
        ev.exim.insert("queue_run_args".into(), args.into());
    }
    Ok(None)
}

fn h_cwd(ev: &mut Event, m: &Captures<'_>) -> R<Option<&'static str>> {
    let cwd = took_part(m, "cwd").unwrap_or("");
    let mut args: Vec<Value> = Vec::new();
    for c in res().args.captures_iter(took_part(m, "args").unwrap_or("")) {
        match (c.get(1), c.get(2)) {
            (Some(q), _) => args.push(unescape(q.as_str())?.into()),
            (None, Some(w)) => args.push(w.as_str().into()),
            (None, None) => {}
        }
    }
    let n = int(took_part(m, "n").unwrap_or(""));
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
    if let Some(user) = res().home.captures(cwd).and_then(|c| c.get(1)) {
        ev.exim.insert("cpanel_user".into(), user.as_str().into());
    }
    Ok(None)
}

fn h_sighup(ev: &mut Event, m: &Captures<'_>) -> R<Option<&'static str>> {
    if let Some(p) = int(took_part(m, "pid").unwrap_or("")) {
        ev.sec("process").insert("pid".into(), p.into());
    }
    Ok(None)
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
