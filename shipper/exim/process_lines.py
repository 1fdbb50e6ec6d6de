"""Daemon, queue-runner and process lines: start, stop, SIGHUP, queue runs, `cwd=` and their failures."""

from __future__ import annotations

import re

from shipper.exim import fields as F
from shipper.exim.event import Event
from shipper.exim.rule import Rule, h_text_error, h_who, opt, rx


def _h_daemon(ev: Event, m: re.Match[str]) -> None:
    ev.exim["version"] = m.group("v")
    pid = m.group("pid").lstrip("p")
    if pid.isdecimal():
        ev.sec("process")["pid"] = int(pid)
    ev.exim["daemon"] = {"options": m.group("rest")}
    qm = re.search(r"(?:^|, )(-q[^\s,]*(?: -q[^\s,]*)*)", m.group("rest"))
    if qm is not None:
        ev.exim["daemon"]["queue_interval"] = qm.group(1)
    ports = sorted({int(p) for p in re.findall(r"(?:port |\]:)(\d+)", m.group("rest"))})
    if ports:
        ev.exim["daemon"]["ports"] = ports


def _h_pid(ev: Event, m: re.Match[str]) -> None:
    pid = m.group("pid").lstrip("p")
    if pid.isdecimal():
        ev.sec("process")["pid"] = int(pid)
    if opt(m, "q"):
        ev.exim["queue"] = m.group("q")
    args = opt(m, "args")
    if args and args.strip():
        ev.exim["queue_run_args"] = args.strip()


def _h_cwd(ev: Event, m: re.Match[str]) -> None:
    proc = ev.sec("process")
    proc["working_directory"] = m.group("cwd")
    args = _split_args(m.group("args"))
    proc["args"] = args
    proc["args_count"] = int(m.group("n"))
    if args:
        proc["executable"] = args[0]
    # cPanel: every local `sendmail` call runs from the submitting account's home directory.
    hm = re.match(r"/home\d*/([^/]+)", m.group("cwd"))
    if hm is not None:
        ev.exim["cpanel_user"] = hm.group(1)


def _split_args(text: str) -> list[str]:
    out: list[str] = []
    for am in re.finditer(r'"((?:[^"\\]|\\.)*)"|(\S+)', text):
        out.append(F.unescape(am.group(1)) if am.group(1) is not None else am.group(2))
    return out


def _h_sighup(ev: Event, m: re.Match[str]) -> None:
    ev.sec("process")["pid"] = int(m.group("pid"))


PROCESS_RULES: tuple[Rule, ...] = (
    Rule("daemon_started", rx(r"exim (?P<v>\S+) daemon started: pid=(?P<pid>\w+), (?P<rest>.*)"), _h_daemon),
    Rule("daemon_sighup", rx(r"pid (?P<pid>\d+): SIGHUP received"), _h_sighup),
    Rule("daemon_stopped", rx(r"exim (?P<v>\S+) daemon (?:terminating|shutting down)(?P<why>.*)"), h_who),
    Rule(
        "queue_run_started",
        rx(r"Start (?:ODMR )?(?:'(?P<q>[^']*)' )?queue run: pid=(?P<pid>\w+)(?P<args>.*)"),
        _h_pid,
    ),
    Rule(
        "queue_run_ended",
        rx(r"End (?:ODMR )?(?:'(?P<q>[^']*)' )?queue run: pid=(?P<pid>\w+)(?P<args>.*)"),
        _h_pid,
    ),
    Rule("queue_run_abandoned", rx(r"Abandon queue run: pid=(?P<pid>\w+)(?P<args>.*)"), _h_pid),
    Rule("queue_run_triggered", rx(r"notify triggered queue run"), None),
    Rule("process_started", rx(r"cwd=(?P<cwd>.*?) (?P<n>\d+) args: (?P<args>.*)"), _h_cwd),
    Rule(
        "daemon_error",
        rx(
            r"(?:\d+ (?:accept|select)\(\) failures?|socket bind\(\) to port \d+|daemon: fork of|"
            r"fork of (?:delivery|queue-runner) process|failed to (?:open|bind|listen)|bind of \S+ failed)"
            r"(?P<rest>.*)"
        ),
        h_text_error,
    ),
)
