"""Synthetic, deterministic cPanel-style Exim main log: the input that bench/parse_speed.py measures."""

from __future__ import annotations

import argparse
import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from random import Random
from zoneinfo import ZoneInfo

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TZ = ZoneInfo("Europe/London")
# 2025-03-28 00:00 UTC: three days that cross the spring-forward DST change (2025-03-30 01:00 UTC),
# so local wall-clock timestamps jump an hour yet stay monotonic, and the zone goes +0000 -> +0100.
START_EPOCH = 1743120000.0
SPAN = 3 * 86400.0
# The admin switches to `log_selector = +all` plus `log_timezone = true` and restarts Exim at this
# point: before it the selectors are cPanel's plus +millisec +pid (and the delivery-time ones), after
# it every line has a zone and +all's extra fields (Ci=, M8S=, RT=, SNI=, DN=, F=/P=/S= on deliveries).
ALL_ERA_FRACTION = 0.62
EXIM_VERSION = "4.98.1"
HOSTNAME = "srv42.examplehost.net"
SRV_IP = "198.51.100.23"
LINES_PER_EPISODE_GUESS = 6.0
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def b62(n: int, width: int) -> str:
    """Exim's base-62 encoding, zero-padded to `width` digits."""
    out = ["0"] * width
    for i in range(width - 1, -1, -1):
        n, r = divmod(n, 62)
        out[i] = B62[r]
    return "".join(out)


def fmt_dur(sec: float) -> str:
    """readconf_printtime() under +millisec: `x.yyys` below 5 s, else `[Nw][Nd][Nh][Nm][Ns]`."""
    if sec < 5:
        return f"{max(sec, 0.0):.3f}s"
    s = int(sec)
    out = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            out.append(f"{s // size}{unit}")
            s %= size
    if s or not out:
        out.append(f"{s}s")
    return "".join(out)


def subject_field(raw: str) -> str:
    """T="..." as receive.c writes it: first 100 bytes, \\ and " escaped, then string_printing()."""
    out = []
    for byte in raw.encode()[:100]:
        if byte == 0x5C:
            out.append("\\\\")
        elif byte == 0x22:
            out.append('\\"')
        elif byte == 0x0A:
            out.append("\\n")
        elif byte == 0x09 or 32 <= byte < 127:
            # string_printing() leaves TAB raw, so folded subjects keep a literal TAB
            out.append(chr(byte))
        else:
            # print_topbitchars is false by default: UTF-8 bytes become octal escapes
            out.append(f"\\{byte:03o}")
    return 'T="' + "".join(out) + '"'


FIRST_NAMES = [
    "alice", "bob", "carol", "dave", "emma", "frank", "grace", "harry", "isla", "jack", "kate", "liam",
    "mia", "noah", "olivia", "paul", "rosie", "sam", "tom", "una", "vicky", "will", "zoe", "amir", "beth",
    "chloe", "dan", "ella", "finn", "gina", "hugo", "ivy", "jon", "leah", "max", "nina", "oscar",
]  # fmt: skip
ROLE_BOXES = [
    "info", "sales", "admin", "accounts", "office", "enquiries", "bookings", "support", "hello", "jobs",
    "orders",
]  # fmt: skip
SYLL = [
    "oak", "ash", "elm", "bright", "stone", "river", "green", "north", "south", "west", "east", "brook",
    "field", "wood", "mill", "gate", "park", "hill", "dale", "vale", "bay", "cliff", "lake", "moor", "ford",
    "bridge", "hall", "star", "sun", "moon", "sky", "sea", "glen", "thorn", "heath",
]  # fmt: skip
TRADES = [
    "bakery", "dental", "plumbing", "motors", "design", "studio", "consulting", "builders", "florist",
    "garage", "law", "cafe", "fitness", "photo", "joinery", "accountants", "travel", "pets", "print",
    "media", "tech", "vets",
]  # fmt: skip
TLDS = ("co.uk", "co.uk", "co.uk", "com", "com", "uk", "org.uk", "net", "org")
WORDS = [
    "quarterly", "report", "meeting", "invoice", "order", "delivery", "update", "schedule", "proposal",
    "contract", "booking", "appointment", "payment", "reminder", "photos", "newsletter", "offer", "event",
    "training", "project", "plan", "review", "feedback", "estimate", "quote", "account", "password",
    "website", "summary", "minutes", "application", "renewal",
]  # fmt: skip

# Big mailbox providers: (domain, share of big-provider rcpts, MX names, IP prefix, reply style).
PROVIDERS: tuple[tuple[str, float, tuple[str, ...], str, str], ...] = (
    (
        "gmail.com",
        0.30,
        ("gmail-smtp-in.l.google.com", "alt1.gmail-smtp-in.l.google.com"),
        "142.250.",
        "gmail",
    ),
    ("googlemail.com", 0.01, ("gmail-smtp-in.l.google.com",), "74.125.", "gmail"),
    ("outlook.com", 0.06, ("outlook-com.olc.protection.outlook.com",), "52.101.", "outlook"),
    ("hotmail.com", 0.05, ("hotmail-com.olc.protection.outlook.com",), "52.101.", "outlook"),
    ("hotmail.co.uk", 0.05, ("eur.olc.protection.outlook.com",), "52.101.", "outlook"),
    ("yahoo.com", 0.03, ("mta5.am0.yahoodns.net", "mta6.am0.yahoodns.net"), "67.195.204.", "yahoo"),
    ("yahoo.co.uk", 0.02, ("mx-eu.mail.am0.yahoodns.net",), "188.125.72.", "yahoo"),
    ("icloud.com", 0.04, ("mx01.mail.icloud.com", "mx02.mail.icloud.com"), "17.57.155.", "postfix"),
    ("btinternet.com", 0.03, ("mx.bt.lon5.cpcloud.co.uk",), "65.20.0.", "bt"),
    ("sky.com", 0.01, ("mx.sky.com",), "90.207.238.", "postfix"),
    ("aol.com", 0.01, ("mx-aol.mail.gm0.yahoodns.net",), "67.195.204.", "yahoo"),
)
SPAM_SUBJECTS = (
    "You have (3) undelivered messages",
    "URGENT: Verify your mailbox before {n}",
    "Payment confirmation: {n}",
    "Congratulations! You've been selected",
    "Re: Overdue invoice #{n}",
    "Your password expires today",
    "DHL: parcel {n} is waiting for delivery",
)
TLS_IN = (
    "TLS1.3:TLS_AES_256_GCM_SHA384:256",
    "TLS1.3:TLS_AES_256_GCM_SHA384:256",
    "TLS1.3:TLS_AES_128_GCM_SHA256:128",
    "TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256",
    "TLS1.2:ECDHE-RSA-AES128-GCM-SHA256:128",
    "TLS1.3:TLS_CHACHA20_POLY1305_SHA256:256",
)
TLS_ERRORS = (
    "(SSL_accept): error:0A000126:SSL routines::unexpected eof while reading",
    "(SSL_accept): error:0A000102:SSL routines::unsupported protocol",
    "(SSL_accept): error:0A0000C1:SSL routines::no shared cipher",
    "(SSL_accept): error:0A00006C:SSL routines::bad key share",
    "(SSL_accept): timed out",
    "(SSL_read): error:0A000126:SSL routines::unexpected eof while reading",
)
RBLS = (
    "Blocked - see https://www.spamcop.net/bl.shtml?{ip}",
    "https://www.spamhaus.org/query/ip/{ip}",
    "Listed by BARRACUDA - http://www.barracudacentral.org/lookups/lookup-reputation?ip={ip}",
)
GMAIL_550 = (
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\\n"
    "550-5.1.1 double-checking the recipient's email address for typos or\\n"
    "550-5.1.1 unnecessary spaces. For more information, go to\\n"
    "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser 5b1f17b1804b1-{n} - gsmtp"
)
GMAIL_421 = (
    "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating\\n"
    "421-4.7.28 from your IP address. To protect our users from spam, mail sent from your IP\\n"
    "421 4.7.28 address has been temporarily rate limited. 5b1f17b1804b1 - gsmtp"
)


@dataclass(slots=True)
class Account:
    user: str
    domain: str
    boxes: list[str]


@dataclass(slots=True)
class Remote:
    domain: str
    mx: tuple[str, ...]
    ips: tuple[str, ...]
    style: str
    tls: str | None
    cv: str


@dataclass(slots=True)
class Msg:
    mid: str
    sender: str
    size: int
    arrival: float
    all_era: bool


@dataclass(slots=True)
class Conn:
    """An inbound SMTP session: the daemon child's pid and the host_and_ident pieces."""

    cpid: int
    fullhost: str
    ip: str
    lport: int
    start: float
    tail: str  # "I=[ip]:port" plus " Ci=N" in the +all era

    @property
    def ident(self) -> str:
        return f"H={self.fullhost} {self.tail}"


@dataclass(slots=True)
class Hop:
    """One outbound SMTP attempt: where to, over which router/transport, and how long it took."""

    rem: Remote
    router: str
    transport: str
    lport: int
    dt: float


@dataclass(slots=True)
class Queued:
    """A message that sits in the spool between queue runs (deferred or frozen)."""

    msg: Msg
    rcpt: str
    next_retry: float
    fate: str
    router: str
    transport: str


@dataclass(slots=True)
class InboundArrival:
    """What an inbound episode has decided before it writes the `<=` line."""

    kind: str
    sender: str
    sender_dom: str
    rcpts: list[str]
    tls: bool
    signed: bool
    dkim_dom: str
    spam_score: float


class LogWriter:
    """Orders lines by time (a heap), renders the +millisec/+pid[/zone] prefix and writes them."""

    def __init__(self, path: Path, limit: int, all_era_start: float) -> None:
        self.fh = path.open("w", encoding="utf-8", newline="\n")
        self.limit = limit
        self.written = 0
        self.heap: list[tuple[float, int, int, str, str]] = []
        self.seq = 0
        self.all_era_start = all_era_start
        self.buf: list[str] = []
        self._sec = -1
        self._stamp = ""
        self._zone = ""

    def emit(self, t: float, pid: int, mid: str, body: str) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, pid, mid, body))

    def flush_until(self, t: float) -> None:
        heap = self.heap
        while heap and heap[0][0] <= t and self.written < self.limit:
            self._write(*heapq.heappop(heap))

    def _write(self, t: float, _seq: int, pid: int, mid: str, body: str) -> None:
        lines = body.count("\n") + 1
        if self.written + lines > self.limit:
            # a multi-line entry that would overshoot is dropped so the file has exactly N lines
            return
        sec = int(t)
        if sec != self._sec:
            self._sec = sec
            dt = datetime.fromtimestamp(sec, TZ)
            self._stamp = dt.strftime("%Y-%m-%d %H:%M:%S")
            off = dt.utcoffset()
            minutes = int(off.total_seconds()) // 60 if off is not None else 0
            sign = "+" if minutes >= 0 else "-"
            self._zone = f" {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
        zone = self._zone if t >= self.all_era_start else ""
        ms = int((t - sec) * 1000)
        if mid:
            self.buf.append(f"{self._stamp}.{ms:03d}{zone} [{pid}] {mid} {body}\n")
        else:
            self.buf.append(f"{self._stamp}.{ms:03d}{zone} [{pid}] {body}\n")
        self.written += lines
        if len(self.buf) >= 8192:
            self.fh.write("".join(self.buf))
            self.buf.clear()

    def close(self) -> None:
        self.flush_until(math.inf)
        self.fh.write("".join(self.buf))
        self.buf.clear()
        self.fh.close()


class Generator:
    """Simulates one busy shared-hosting server; every random choice flows from one seeded Random."""

    def __init__(self, out: Path, lines: int, seed: int) -> None:
        self.r = Random(seed)
        self.lines = lines
        self.all_era_start = START_EPOCH + SPAN * ALL_ERA_FRACTION
        self.w = LogWriter(out, lines, self.all_era_start)
        self.pid = 183_000
        self.daemon_pid = self.new_pid()
        self.conn_count = 0
        self.queue: list[Queued] = []
        self.accounts = self._make_accounts(260)
        self.local_domains = {a.domain for a in self.accounts}
        self.remotes: dict[str, Remote] = {}
        self.biz_domains = [self._biz_domain() for _ in range(2500)]
        self.prov_domains = [p[0] for p in PROVIDERS]
        self.prov_weights = [p[1] for p in PROVIDERS]
        self.spam_domains = [
            f"{self._rand_word(7)}.{self.r.choice(('com', 'net', 'info', 'xyz', 'top', 'ru'))}"
            for _ in range(400)
        ]

    # ----- small helpers ---------------------------------------------------------------------

    def new_pid(self) -> int:
        self.pid += self.r.randint(1, 40)
        if self.pid > 4_194_000:
            self.pid = 1000 + self.pid % 1000
        return self.pid

    def era_all(self, t: float) -> bool:
        return t >= self.all_era_start

    def _rand_word(self, n: int) -> str:
        return "".join(self.r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))

    def _biz_domain(self) -> str:
        r = self.r
        return f"{r.choice(SYLL)}{r.choice(SYLL)}{r.choice(TRADES)}.{r.choice(TLDS)}"

    def _make_accounts(self, n: int) -> list[Account]:
        out: list[Account] = []
        seen: set[str] = set()
        while len(out) < n:
            dom = self._biz_domain()
            if dom in seen:
                continue
            seen.add(dom)
            boxes = self.r.sample(ROLE_BOXES, self.r.randint(1, 3)) + self.r.sample(
                FIRST_NAMES, self.r.randint(0, 4)
            )
            # cPanel usernames: the first 8 letters of the main domain
            out.append(Account(dom.split(".")[0][:8], dom, boxes))
        return out

    def public_ip(self) -> str:
        r = self.r
        while True:
            a = r.randint(2, 223)
            if a not in (10, 100, 127, 169, 172, 192, 198, 203):
                return f"{a}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"

    def _ip_in(self, prefix: str) -> str:
        r = self.r
        if prefix.count(".") == 2:
            return f"{prefix}{r.randint(0, 255)}.{r.randint(1, 254)}"
        return f"{prefix}{r.randint(1, 254)}"

    def remote(self, domain: str) -> Remote:
        rem = self.remotes.get(domain)
        if rem is not None:
            return rem
        r = self.r
        for name, _share, mx, prefix, style in PROVIDERS:
            if name == domain:
                ips = tuple(self._ip_in(prefix) for _ in mx)
                tls = "TLS1.3:TLS_AES_256_GCM_SHA384:256" if style == "gmail" else r.choice(TLS_IN)
                rem = Remote(domain, mx, ips, style, tls, "yes")
                break
        else:
            kind = r.random()
            if kind < 0.35:
                mx = (domain.replace(".", "-") + ".mail.protection.outlook.com",)
                tls = "TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256"
                rem = Remote(domain, mx, (self._ip_in("52.101."),), "outlook", tls, "yes")
            elif kind < 0.55:
                mx = ("aspmx.l.google.com", "alt1.aspmx.l.google.com")
                ips = (self._ip_in("142.250."), self._ip_in("64.233.160."))
                rem = Remote(domain, mx, ips, "gmail", "TLS1.3:TLS_AES_256_GCM_SHA384:256", "yes")
            else:
                mx = (r.choice(("mail.", "mx1.", "mx.", "")) + domain,)
                maybe_tls = None if r.random() < 0.08 else r.choice(TLS_IN)
                cv = "no" if r.random() < 0.2 else "yes"
                style = r.choice(("exim", "postfix", "exim"))
                rem = Remote(domain, mx, (self.public_ip(),), style, maybe_tls, cv)
        self.remotes[domain] = rem
        return rem

    def remote_rcpt(self) -> str:
        r = self.r
        if r.random() < 0.62:
            dom = r.choices(self.prov_domains, self.prov_weights)[0]
        else:
            dom = r.choice(self.biz_domains)
        if r.random() < 0.12:
            return f"{r.choice(ROLE_BOXES)}@{dom}"
        second = r.choice((r.choice(FIRST_NAMES), str(r.randint(1, 99)), self._rand_word(5), ""))
        sep = r.choice(("", ".", "_", "")) if second else ""
        return f"{r.choice(FIRST_NAMES)}{sep}{second}@{dom}"

    def local_box(self, acct: Account | None = None) -> tuple[Account, str]:
        a = acct or self.r.choice(self.accounts)
        return a, f"{self.r.choice(a.boxes)}@{a.domain}"

    def make_mid(self, t: float, pid: int) -> str:
        # ~10% classic 16-char ids, as a log spanning the 4.97 upgrade (or a mixed fleet) has
        sec = int(t)
        frac = t - sec
        if self.r.random() < 0.10:
            return f"{b62(sec, 6)}-{b62(pid, 6)}-{b62(int(frac * 2000), 2)}"
        return f"{b62(sec, 6)}-{b62(pid, 11)}-{b62(int(frac * 1_000_000), 4)}"

    def size(self) -> int:
        return max(600, int(self.r.lognormvariate(8.9, 1.3)))

    def subject(self, kind: str = "normal") -> str:
        r = self.r
        if kind == "spam":
            return r.choice(SPAM_SUBJECTS).format(n=r.randint(10000, 99999999))
        roll = r.random()
        w1, w2 = r.choice(WORDS), r.choice(WORDS)
        name = r.choice(FIRST_NAMES).capitalize()
        if roll < 0.25:
            return f"Re: {w1.capitalize()} {w2}"
        if roll < 0.33:
            return f"Fwd: {w1} {w2} {r.randint(2024, 2025)}"
        if roll < 0.43:
            return f"Invoice INV-{r.randint(1000, 99999)} from {r.choice(SYLL).capitalize()} Ltd"
        if roll < 0.50:
            return f'Quote for "{w1} {w2}" ({r.randint(1, 40)} items)'
        if roll < 0.55:
            return f"Caf\u00e9 {w1} \u2013 {name}'s {w2}"
        if roll < 0.58:
            return f"Re: {w1} {w2} for the\n\tweek of {r.randint(1, 28)} March"
        if roll < 0.60:
            return f"Path C:\\Users\\{name}\\{w1}.docx attached"
        if roll < 0.63:
            return "Re: RE: Fwd: " + " ".join(r.choice(WORDS) for _ in range(25))
        if roll < 0.70:
            return f"Your order #{r.randint(100000, 999999)} has been dispatched"
        if roll < 0.74:
            return ""
        return f"{w1.capitalize()} {w2} - {name}"

    def header_msgid(self, style: str, dom: str) -> str:
        r = self.r
        if style == "gmail":
            return "CA" + "".join(r.choice(ALNUM + "+_-=") for _ in range(44)) + "@mail.gmail.com"
        if style == "outlook":
            host = (
                f"{r.choice(('AM9PR', 'DB9PR', 'LO2P', 'PAXPR'))}0{r.randint(1, 9)}MB{r.randint(1000, 9999)}"
            )
            tail = "".join(r.choice("0123456789ABCDEF") for _ in range(32))
            return f"{host}{tail}@{host}.eurprd0{r.randint(1, 9)}.prod.outlook.com"
        if style == "php":
            return "".join(r.choice(ALNUM) for _ in range(40)) + f"@{dom}"
        hexd = "0123456789abcdef"
        uuid = "-".join("".join(r.choice(hexd) for _ in range(n)) for n in (8, 4, 4, 4, 12))
        return f"{uuid}@{dom}"

    def confirmation(self, rem: Remote, t: float, rcpt: str) -> str:
        r = self.r
        if rem.style == "gmail":
            tok = "".join(r.choice("0123456789abcdef") for _ in range(12))
            n = f"{r.randint(100000, 999999)}f8f.{r.randint(1, 999)}"
            return f'C="250 2.0.0 OK  {int(t)} 5b1f17b1804b1-{tok}si{n} - gsmtp"'
        if rem.style == "outlook":
            host = f"AM{r.randint(1, 9)}PEPF0000{r.randint(1000, 9999)}.eurprd0{r.randint(1, 9)}"
            host += ".prod.outlook.com"
            return (
                f'C="250 2.6.0 <{self.header_msgid("outlook", rem.domain)}> '
                f"[InternalId={r.randint(10**12, 10**13)}, Hostname={host}] "
                f"{r.randint(2000, 90000)} bytes in "
                f'{r.random():.3f}, {r.uniform(5, 900):.3f} KB/sec Queued mail for delivery"'
            )
        if rem.style == "yahoo":
            return 'C="250 ok dirdel"'
        if rem.style == "bt":
            return f'C="250 <{rcpt}> Queued mail for delivery"'
        if rem.style == "exim":
            rid = "-".join(
                (b62(int(t + r.random()), 6), b62(r.randint(1000, 4000000), 11), b62(r.randint(0, 999999), 4))
            )
            return f'C="250 OK id={rid}"'
        qid = "".join(r.choice("0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz") for _ in range(14))
        return f'C="250 2.0.0 Ok: queued as {qid}"'

    def inbound_host(self, kind: str) -> tuple[str, str]:
        """(H= value without the port, client ip) for a sending host of the given kind."""
        r = self.r
        if kind == "google":
            if r.random() < 0.08:
                suffix = f"{r.randint(0x500, 0x5FF):x}"
                return (
                    f"mail-ed1-x{suffix}.google.com [2a00:1450:4864:20::{suffix}]",
                    f"2a00:1450:4864:20::{suffix}",
                )
            n = r.randint(41, 99)
            ip = f"209.85.{r.choice((128, 208, 218, 221, 222))}.{n}"
            return f"mail-{r.choice(('wm1', 'ej1', 'ed1', 'lj1', 'wr1'))}-f{n}.google.com [{ip}]", ip
        if kind == "outlook":
            ip = self._ip_in("40.107.")
            pod = r.choice(("am6", "db3", "vi1", "he1", "db8"))
            name = f"mail-{pod}eur0{r.randint(1, 5)}on20{r.randint(10, 99)}"
            return f"{name}.outbound.protection.outlook.com [{ip}]", ip
        if kind == "biz":
            dom = r.choice(self.biz_domains)
            ip = self.public_ip()
            if r.random() < 0.6:
                return f"mail.{dom} [{ip}]", ip
            isp = r.choice(("virginm.net", "bt.net", "as13285.net"))
            return f"{ip.replace('.', '-')}.static.{isp} (mail.{dom}) [{ip}]", ip
        if kind == "client":
            ip = self.public_ip()
            helo = r.choice(
                (
                    f"DESKTOP-{self._rand_word(7).upper()}",
                    f"[192.168.1.{r.randint(2, 250)}]",
                    "User",
                    f"{r.choice(FIRST_NAMES)}s-MacBook-Pro.local",
                    f"[{ip}]",
                )
            )
            if r.random() < 0.5:
                cpc = f"cpc{r.randint(10000, 999999)}-lutn{r.randint(1, 99)}-2-0-cust{r.randint(1, 999)}"
                return f"{cpc}.9-4.cable.virginm.net ({helo}) [{ip}]", ip
            return f"({helo}) [{ip}]", ip
        if kind == "webmail":
            return f"localhost ({HOSTNAME}) [127.0.0.1]", "127.0.0.1"
        # spam bots and scanners: usually no verified reverse name
        ip = self.public_ip()
        helo = r.choice(
            (
                f"WIN-{self._rand_word(11).upper()}",
                "User",
                "ylmf-pc",
                "localhost",
                f"[{ip}]",
                ip,
                f"mail.{r.choice(self.spam_domains)}",
                r.choice(self.spam_domains),
                f"[{self.public_ip()}]",
            )
        )
        if r.random() < 0.15:
            return f"{ip.replace('.', '-')}.dyn.{r.choice(self.spam_domains)} ({helo}) [{ip}]", ip
        return f"({helo}) [{ip}]", ip

    def remote_route(self) -> tuple[str, str]:
        if self.r.random() < 0.6:
            return "dkim_lookuphost", "dkim_remote_smtp"
        return "lookuphost", "remote_smtp"

    # ----- timeline --------------------------------------------------------------------------

    def run(self) -> None:
        r = self.r
        t = START_EPOCH + r.uniform(0.5, 3)
        self.daemon_start(t, new_pid=False)
        self.seed_queue(t)
        next_qr = t + r.uniform(60, 900)
        next_bpc = t + r.uniform(30, 300)
        next_hup = START_EPOCH + 86400 + 3 * 3600 + r.uniform(0, 1800)
        era_switch = self.all_era_start - 0.5
        episodes = 0
        kinds: list[tuple[Callable[[float], None], float]] = [
            (self.ep_inbound, 30),
            (self.ep_outbound_auth, 13),
            (self.ep_local_submit, 15),
            (self.ep_spam_reject, 17),
            (self.ep_auth_fail, 7),
            (self.ep_tls_error, 2.5),
            (self.ep_scanner, 4),
            (self.ep_misc, 5.0),
        ]
        funcs = [k[0] for k in kinds]
        weights = [k[1] for k in kinds]
        while self.w.written < self.lines:
            # Pace episodes so the file spans about SPAN whatever --lines is: spread the lines still
            # to write over the time still left, using the lines-per-episode seen so far.
            pending = self.w.written + len(self.w.heap)
            lpe = pending / episodes if episodes > 50 else LINES_PER_EPISODE_GUESS
            gap = max(START_EPOCH + SPAN - t, 600.0) / max((self.lines - pending) / lpe, 1.0)
            hour = (t - START_EPOCH) / 3600 % 24
            diurnal = 0.45 + 1.1 * math.exp(-(((hour - 13.5) / 5.0) ** 2))
            t += r.expovariate(1.0) * gap * (0.95 / diurnal)
            while (nxt := min(next_qr, next_bpc, next_hup, era_switch)) <= t:
                self.w.flush_until(nxt)
                if nxt == next_qr:
                    self.queue_run(nxt)
                    next_qr = nxt + r.uniform(1500, 2100)
                elif nxt == next_bpc:
                    # cPanel's service monitor counts the queue every few minutes
                    self.w.emit(nxt, self.new_pid(), "", "cwd=/usr/local/cpanel 2 args: /usr/sbin/exim -bpc")
                    next_bpc = nxt + r.uniform(240, 360)
                elif nxt == next_hup:
                    self.w.emit(
                        nxt, self.daemon_pid, "", f"pid {self.daemon_pid}: SIGHUP received: re-exec daemon"
                    )
                    self.daemon_start(nxt + 0.8, new_pid=False)
                    next_hup = nxt + 86400 + r.uniform(-900, 900)
                else:
                    self.daemon_start(nxt, new_pid=True)
                    era_switch = math.inf
            self.w.flush_until(t)
            r.choices(funcs, weights)[0](t)
            episodes += 1
        self.w.close()

    def daemon_start(self, t: float, *, new_pid: bool) -> None:
        if new_pid:
            self.daemon_pid = self.new_pid()
        pid = self.daemon_pid
        self.w.emit(t, pid, "", "cwd=/var/spool/exim 3 args: /usr/sbin/exim -bd -q30m")
        self.w.emit(
            t + 0.004,
            pid,
            "",
            f"exim {EXIM_VERSION} daemon started: pid={pid}, -q30m, listening for SMTP on "
            "port 25 (IPv6 and IPv4) port 587 (IPv6 and IPv4) and for SMTPS on port 465 (IPv6 and IPv4)",
        )

    def seed_queue(self, t: float) -> None:
        # Messages already deferred when the log starts, half from before the 4.97 upgrade (16-char ids).
        r = self.r
        for _ in range(40):
            arrival = t - r.uniform(3600, 2.4 * 86400)
            pid = r.randint(2000, 900000)
            sec = int(arrival)
            if r.random() < 0.5:
                mid = f"{b62(sec, 6)}-{b62(pid, 6)}-{b62(r.randint(0, 1999), 2)}"
            else:
                mid = f"{b62(sec, 6)}-{b62(pid, 11)}-{b62(r.randint(0, 999999), 4)}"
            acct, sender = self.local_box()
            fate = r.choice(("dead", "dead", "ratelimit", "greylist", "quota"))
            if fate == "quota":
                rcpt = f"{r.choice(ROLE_BOXES)}@{acct.domain}"
                router, transport = "virtual_user", "virtual_userdelivery"
            else:
                rcpt = f"{r.choice(FIRST_NAMES)}@{r.choice(self.biz_domains)}"
                router, transport = self.remote_route()
            msg = Msg(mid, sender, self.size(), arrival, all_era=False)
            self.queue.append(Queued(msg, rcpt, t + r.uniform(0, 7200), fate, router, transport))

    # ----- connection bookkeeping -----------------------------------------------------------

    def conn_open(self, t: float, host: str, ip: str, lport: int) -> Conn:
        """Log the daemon's connection line (only the IP is known then) and start a session."""
        port = self.r.randint(1024, 65535)
        cpid = self.new_pid()
        self.conn_count = max(1, min(self.conn_count + self.r.randint(-2, 2), 40))
        iface = f"I=[{SRV_IP}]:{lport}"
        ci = f" Ci={cpid}" if self.era_all(t) else ""
        self.w.emit(
            t,
            self.daemon_pid,
            "",
            f"SMTP connection from [{ip}]:{port} {iface}{ci} (TCP/IP connection count = {self.conn_count})",
        )
        return Conn(cpid, f"{host}:{port}", ip, lport, t, f"{iface}{ci}")

    def conn_close(self, t: float, c: Conn) -> None:
        r = self.r
        ci = f" Ci={c.cpid}" if self.era_all(t) else ""
        dur = fmt_dur(t - c.start)
        roll = r.random()
        if roll < 0.88:
            self.w.emit(
                t,
                c.cpid,
                "",
                f"SMTP connection{ci} from {c.fullhost} I=[{SRV_IP}]:{c.lport} D={dur} closed by QUIT",
            )
            if self.era_all(t) and r.random() < 0.04:
                # protocol_detail (+all): the format ends in \n, so the entry carries an empty line
                reset = "after QUIT, client reset TCP before SMTP response and TLS close\n"
                self.w.emit(t + 0.001, c.cpid, "", f"[{c.ip}] {reset}")
        elif roll < 0.95:
            self.w.emit(
                t,
                c.cpid,
                "",
                f"SMTP connection{ci} from {c.fullhost} I=[{SRV_IP}]:{c.lport} D={dur} closed by EOF",
            )
        else:
            self.w.emit(t, c.cpid, "", f"SMTP connection{ci} from {c.fullhost} lost D={dur}")

    # ----- deliveries ------------------------------------------------------------------------

    def local_delivery(self, t: float, pid: int, msg: Msg, rcpt: str, *, spam: bool = False) -> None:
        r = self.r
        local, _, dom = rcpt.partition("@")
        qt = t - msg.arrival
        qt_dt = f" QT={fmt_dur(qt)} DT={fmt_dur(min(r.uniform(0.001, 0.05), qt * 0.8))}"
        fp = f" F=<{msg.sender}> P=<{msg.sender}>" if msg.all_era else ""
        size_f = f" S={msg.size + 600}" if msg.all_era else ""
        roll = r.random()
        if roll < 0.02:
            self.w.emit(t, pid, msg.mid, f"=> :blackhole: <{rcpt}> R=virtual_aliases{qt_dt}")
        elif roll < 0.03:
            self.w.emit(
                t, pid, msg.mid, f"=> /dev/null ({rcpt}) <{rcpt}> R=virtual_aliases T=**bypassed**{qt_dt}"
            )
        elif roll < 0.05:
            user = dom.split(".")[0][:8]
            pipe = f"|/usr/local/cpanel/bin/autorespond {rcpt} /home/{user}/.autorespond"
            self.w.emit(
                t,
                pid,
                msg.mid,
                f"=> {pipe} ({rcpt}) <{rcpt}>{fp} R=virtual_address_pipe T=address_pipe{qt_dt}",
            )
        elif roll < 0.09:
            # a forwarder: the final address is remote, the original one is shown in <...>
            self.remote_delivery(t, pid, msg, [self.remote_rcpt()], top=rcpt)
        elif roll < 0.10:
            tmp = f"tmp/{int(t)}.M{r.randint(100000, 999999)}P{pid}.{HOSTNAME}"
            self.w.emit(
                t,
                pid,
                msg.mid,
                f"== {rcpt} R=virtual_user T=virtual_userdelivery defer (-22): mailbox is full "
                f"(MTA-imposed quota exceeded while writing to {tmp})",
            )
            retry = t + r.uniform(900, 7200)
            self.queue.append(Queued(msg, rcpt, retry, "quota", "virtual_user", "virtual_userdelivery"))
        elif spam and r.random() < 0.6:
            route = "R=virtual_user_spam T=virtual_userdelivery_spam"
            self.w.emit(t, pid, msg.mid, f"=> {local} <{rcpt}>{fp} {route}{size_f}{qt_dt}")
        else:
            self.w.emit(
                t,
                pid,
                msg.mid,
                f"=> {local} <{rcpt}>{fp} R=virtual_user T=virtual_userdelivery{size_f}{qt_dt}",
            )

    def remote_delivery(
        self, t: float, pid: int, msg: Msg, rcpts: list[str], *, top: str | None = None
    ) -> float:
        """Deliver to remote rcpts, one SMTP transaction per domain (=> then -> followers).

        Returns the time of the last line written, so the caller can place `Completed`.
        """
        r = self.r
        by_dom: dict[str, list[str]] = {}
        for rc in rcpts:
            by_dom.setdefault(rc.rpartition("@")[2], []).append(rc)
        end = t
        failed: list[str] = []
        for dom, group in by_dom.items():
            rem = self.remote(dom)
            router, transport = self.remote_route()
            dt = r.uniform(0.15, 3.5) if r.random() < 0.9 else r.uniform(5, 40)
            hop = Hop(rem, router, transport, r.randint(32768, 60999), dt)
            idx = 0 if r.random() < 0.9 else len(rem.mx) - 1
            host = f"H={rem.mx[idx]} [{rem.ips[idx]}]:25 I=[{SRV_IP}]:{hop.lport}"
            outcome = r.random()
            t_end = t + dt
            end = max(end, t_end)
            if outcome < 0.03 and rem.style not in ("gmail", "outlook", "yahoo"):
                # the domain has lapsed: no MX, no A record
                for rc in group:
                    self.w.emit(t, pid, msg.mid, f"** {rc} : Unrouteable address")
                    failed.append(rc)
                continue
            if outcome < 0.07:
                err = self._rcpt_550(rem, group[0])
                for rc in group:
                    self.w.emit(
                        t_end,
                        pid,
                        msg.mid,
                        f"** {rc} R={router} T={transport} {host} : SMTP error from remote mail server after "
                        f"RCPT TO:<{rc}>: {err} DT={fmt_dur(dt)}",
                    )
                    failed.append(rc)
                continue
            if outcome < 0.115:
                end = max(end, self._defer_remote(t, pid, msg, group, hop))
                continue
            tls = f" X={rem.tls} CV={rem.cv}" if rem.tls else ""
            if rem.tls and msg.all_era:
                tls += f' DN="CN={rem.mx[0] if rem.style != "outlook" else "mail.protection.outlook.com"}"'
            fp = f" F=<{msg.sender}> P=<{msg.sender}>" if msg.all_era else ""
            size_f = f" S={msg.size + r.randint(600, 1200)}" if msg.all_era else ""
            dkim = ""
            if msg.all_era and router.startswith("dkim") and msg.sender != "<>":
                dkim = f" DKIM={msg.sender.rpartition('@')[2]}:default"
            conf = self.confirmation(rem, t_end, group[0])
            timing = f" QT={fmt_dur(t_end - msg.arrival)} DT={fmt_dur(dt)}"
            topf = f" <{top}>" if top else ""
            for i, rc in enumerate(group):
                flag = "=>" if i == 0 else "->"
                self.w.emit(
                    t_end + i * 0.0001,
                    pid,
                    msg.mid,
                    f"{flag} {rc}{topf}{fp} R={router} T={transport}{size_f} {host}{tls}{dkim} "
                    f"{conf}{timing}",
                )
        if failed:
            self.bounce(end + 0.01, msg)
        return end

    def _rcpt_550(self, rem: Remote, rc: str) -> str:
        r = self.r
        if rem.style == "gmail":
            return GMAIL_550.format(n=r.randint(10**9, 10**10))
        if rem.style == "outlook":
            return (
                "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). "
                f"[AM{r.randint(1, 9)}PEPF0000{r.randint(1000, 9999)}.eurprd04.prod.outlook.com]"
            )
        return r.choice(
            (
                f"550 5.1.1 <{rc}>: Recipient address rejected: User unknown in virtual mailbox table",
                "550 5.1.1 user unknown",
                "550 No Such User Here",
                f"554 5.7.1 <{rc}>: Relay access denied",
                "550 5.7.1 Message rejected due to content restrictions",
            )
        )

    def _defer_remote(self, t: float, pid: int, msg: Msg, group: list[str], hop: Hop) -> float:
        r = self.r
        rem = hop.rem
        mxh, mxip = rem.mx[0], rem.ips[0]
        t_end = t + hop.dt
        where = f"H={mxh} [{mxip}]:25 I=[{SRV_IP}]:{hop.lport} DT={fmt_dur(hop.dt)}"
        kind = r.random()
        if rem.style == "yahoo" and kind < 0.7:
            fate = "ratelimit"
            text = (
                f"defer (-45) {where}: SMTP error from remote mail server after pipelined "
                f"MAIL FROM:<{msg.sender}> SIZE={msg.size}: 421 4.7.0 [TSS04] Messages from {SRV_IP} "
                "temporarily deferred due to unexpected "
                "volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes"
            )
        elif rem.style == "gmail" and kind < 0.3:
            fate = "ratelimit"
            after = "after pipelined end of data"
            text = f"defer (-46) {where}: SMTP error from remote mail server {after}: {GMAIL_421}"
        elif kind < 0.55:
            fate = "greylist"
            dom = group[0].rpartition("@")[2]
            text = (
                f"defer (-44) {where}: SMTP error from remote mail server after RCPT TO:<{group[0]}>: "
                "451 4.7.1 "
                f"<{group[0]}>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/{dom}.html"
            )
        elif kind < 0.8:
            fate = "dead"
            # write_logs(): one line per host tried, before the == line
            for h, hip in zip(rem.mx, rem.ips, strict=True):
                self.w.emit(t_end, pid, msg.mid, f"H={h} [{hip}] Connection refused")
            text = "defer (111): Connection refused"
        else:
            fate = "dead"
            t_end += 30
            self.w.emit(
                t_end,
                pid,
                msg.mid,
                f"H={mxh} [{mxip}]: SMTP timeout after initial connection: Connection timed out",
            )
            text = f"defer (110): Connection timed out H={mxh} [{mxip}]:25: "
            text += "SMTP timeout after initial connection"
        low, high = {"greylist": (300, 1200), "ratelimit": (1800, 7200), "dead": (900, 5400)}[fate]
        for rc in group:
            self.w.emit(t_end + 0.0002, pid, msg.mid, f"== {rc} R={hop.router} T={hop.transport} {text}")
            retry = t_end + r.uniform(low, high)
            self.queue.append(Queued(msg, rc, retry, fate, hop.router, hop.transport))
        return t_end + 0.0002

    def bounce(self, t: float, orig: Msg) -> None:
        """Exim's bounce: a new message from <> back to the sender, generated by a fresh exim process."""
        r = self.r
        sender = orig.sender
        if sender == "<>":
            return
        bpid = self.new_pid()
        bmid = self.make_mid(t + 0.02, bpid)
        bmsg = Msg(bmid, "<>", r.randint(2500, 9000), t + 0.02, self.era_all(t))
        self.w.emit(t, bpid, "", f"cwd=/var/spool/exim 7 args: /usr/sbin/exim -t -oem -oi -f <> -E{orig.mid}")
        idf = f" id*=E{bmid}@{HOSTNAME}" if bmsg.all_era else ""
        self.w.emit(
            bmsg.arrival,
            bpid,
            bmid,
            f"<= <> R={orig.mid} U=mailnull P=local S={bmsg.size}{idf} "
            f'T="Mail delivery failed: returning message to sender" from <> for {sender}',
        )
        dpid = self.new_pid()
        td = t + 0.05
        self.w.emit(td, dpid, "", f"cwd=/var/spool/exim 3 args: /usr/sbin/exim -Mc {bmid}")
        local, _, dom = sender.partition("@")
        td += 0.01
        if dom == HOSTNAME:
            td += r.uniform(0.001, 0.3)
            qt = fmt_dur(td - bmsg.arrival)
            self.w.emit(
                td, dpid, bmid, f"=> {local} <{sender}> R=localuser T=local_delivery QT={qt} DT=0.002s"
            )
        elif dom in self.local_domains:
            td += r.uniform(0.001, 0.3)
            if local.startswith(("wordpress", "noreply")) and r.random() < 0.5:
                # nobody is there to take the bounce: the error message itself fails and is frozen
                self.w.emit(td, dpid, bmid, f"** {sender} R=virtual_aliases : No Such User Here")
                self.w.emit(td + 0.001, dpid, bmid, "Frozen (delivery error message)")
                thaw = td + r.uniform(3 * 3600, 12 * 3600)
                self.queue.append(Queued(bmsg, sender, thaw, "frozen", "virtual_aliases", ""))
                return
            self.local_delivery(td, dpid, bmsg, sender)
        else:
            td = self.remote_delivery(td, dpid, bmsg, [sender])
        self.w.emit(td + 0.002, dpid, bmid, f"Completed QT={fmt_dur(td + 0.002 - bmsg.arrival)}")

    def deliver_all(self, t: float, dpid: int, msg: Msg, rcpts: list[str], acct: Account) -> None:
        """The delivery process for a locally submitted or authenticated message."""
        r = self.r
        local = [
            rc for rc in rcpts if rc.rpartition("@")[2] in self.local_domains or rc.endswith("@" + HOSTNAME)
        ]
        remote = [rc for rc in rcpts if rc not in local]
        qlen = len(self.queue)
        end = t
        if remote and r.random() < 0.01:
            # cPanel's per-domain hourly limit: its router fails every remote address
            sent = r.randint(101, 520)
            for rc in remote:
                self.w.emit(
                    t,
                    dpid,
                    msg.mid,
                    f"** {rc} R=enforce_mail_permissions : Domain {acct.domain} has exceeded the max "
                    "emails per "
                    f"hour ({sent}/100 (100%)) allowed.  Message discarded.",
                )
            remote = []
        for rc in local:
            end += r.uniform(0.002, 0.05)
            if rc.endswith("@" + HOSTNAME):
                lp = rc.partition("@")[0]
                qt = fmt_dur(end - msg.arrival)
                self.w.emit(
                    end, dpid, msg.mid, f"=> {lp} <{rc}> R=localuser T=local_delivery QT={qt} DT=0.002s"
                )
            else:
                self.local_delivery(end, dpid, msg, rc)
        if remote:
            end = self.remote_delivery(end + 0.01, dpid, msg, remote)
        # a message with an address left deferred stays on the queue: no Completed yet
        if not any(q.msg is msg for q in self.queue[qlen:]):
            self.w.emit(end + 0.002, dpid, msg.mid, f"Completed QT={fmt_dur(end + 0.002 - msg.arrival)}")

    # ----- episodes --------------------------------------------------------------------------

    def ep_inbound(self, t: float) -> None:
        """Internet MX traffic to local mailboxes."""
        r = self.r
        kind = r.choices(("google", "outlook", "biz", "spam"), (38, 22, 30, 10))[0]
        host, ip = self.inbound_host(kind)
        c = self.conn_open(t, host, ip, 25)
        all_era = self.era_all(t)
        if kind == "spam" and "(" in host and r.random() < 0.4:
            self.w.emit(t + 0.05, c.cpid, "", f"no host name found for IP address {ip}")
        acct = r.choice(self.accounts)
        n_rcpt = 1 if r.random() < 0.85 else r.randint(2, 4)
        rcpts = list(dict.fromkeys(f"{r.choice(acct.boxes)}@{acct.domain}" for _ in range(n_rcpt)))
        sender, sender_dom = self._inbound_sender(kind)
        t_data = t + r.uniform(0.3, 4.0)
        if kind == "spam" and r.random() < 0.5:
            reason = self._reject_reason(c.fullhost, ip)
            self.w.emit(t_data, c.cpid, "", f"{c.ident} F=<{sender}> rejected RCPT <{rcpts[0]}>: {reason}")
            self.conn_close(t_data + r.uniform(0.05, 2), c)
            return
        msg = Msg(self.make_mid(t_data, c.cpid), sender, self.size(), t_data + 0.05, all_era)
        spam_score = r.uniform(5.5, 30) if kind == "spam" or r.random() < 0.04 else r.uniform(-3, 4.5)
        tls = kind != "spam" or r.random() < 0.5
        signed = kind in ("google", "outlook", "biz") and r.random() < 0.9
        dkim_dom = "gmail.com" if kind == "google" else sender_dom
        if all_era and signed:
            sel = {"google": "20230601", "outlook": "selector1"}.get(kind, "default")
            self.w.emit(
                t_data + 0.01,
                c.cpid,
                msg.mid,
                f"DKIM: d={dkim_dom} s={sel} c=relaxed/relaxed a=rsa-sha256 b=2048 "
                f"t={int(t_data) - r.randint(1, 30)} "
                "[verification succeeded]",
            )
        if r.random() < 0.2:
            clam = "Warning: Message has been scanned: no virus or other harmful content was found"
            self.w.emit(t_data + 0.02, c.cpid, msg.mid, f"{c.ident} {clam}")
        verdict = "spam" if spam_score >= 5 else "NOT spam"
        sa = f'Warning: "SpamAssassin as {acct.user} detected message as {verdict} ({spam_score:.1f})"'
        self.w.emit(t_data + 0.03, c.cpid, msg.mid, f"{c.ident} {sa}")
        arrival = InboundArrival(kind, sender, sender_dom, rcpts, tls, signed, dkim_dom, spam_score)
        line = self._inbound_arrival_line(c, msg, acct, arrival, t=t, t_data=t_data)
        self.w.emit(msg.arrival, c.cpid, msg.mid, line)
        self._deliver_inbound(msg, rcpts, spam=spam_score >= 5)
        self.conn_close(msg.arrival + r.uniform(0.05, 1.5), c)

    def _inbound_sender(self, kind: str) -> tuple[str, str]:
        """The envelope sender of an inbound message and its domain, shaped by the kind of sender."""
        r = self.r
        sender_dom = {
            "google": "gmail.com",
            "outlook": r.choice(("outlook.com", "hotmail.co.uk", r.choice(self.biz_domains))),
            "biz": r.choice(self.biz_domains),
        }.get(kind, r.choice(self.spam_domains))
        sender = f"{r.choice(FIRST_NAMES)}{r.choice(('', '.', ''))}{r.choice(FIRST_NAMES)}@{sender_dom}"
        if kind == "biz" and r.random() < 0.15:
            # VERP-style list/bulk senders
            sender = f"bounce-{r.randint(10**6, 10**9)}-{r.randint(1, 999)}@mail.{sender_dom}"
        return sender, sender_dom

    def _inbound_arrival_line(
        self, c: Conn, msg: Msg, acct: Account, a: InboundArrival, *, t: float, t_data: float
    ) -> str:
        """The `<=` line of an inbound message; the fields only log_selector=+all adds need the +all era."""
        r = self.r
        all_era = msg.all_era
        parts = [f"<= {a.sender} H={c.fullhost} I=[{SRV_IP}]:25"]
        if all_era:
            parts.append(f"Ci={c.cpid}")
        parts.append("P=esmtps" if a.tls else "P=esmtp")
        if all_era and r.random() < 0.3:
            parts.append("L-")
        if a.tls:
            parts.append(f"X={r.choice(TLS_IN)} CV=no")
            if all_era:
                parts.append(f"SNI={r.choice((HOSTNAME, 'mail.' + acct.domain, acct.domain))}")
        if all_era and r.random() < 0.1:
            parts.append("K")
        parts.append(f"S={msg.size}")
        if all_era:
            parts.append(f"M8S={r.choice((0, 0, 8, 7))}")
        if a.signed:
            parts.append(f"DKIM={a.dkim_dom}")
        if all_era:
            parts.append(f"RT={fmt_dur(t_data - t + r.uniform(0.01, 0.5))}")
        style = {"google": "gmail", "outlook": "outlook"}.get(a.kind, "other")
        parts.append(f"id={self.header_msgid(style, a.sender_dom)}")
        parts.append(subject_field(self.subject("spam" if a.spam_score >= 5 else "normal")))
        parts.append(f"from <{a.sender}>")
        parts.append("for " + " ".join(a.rcpts))
        return " ".join(parts)

    def _deliver_inbound(self, msg: Msg, rcpts: list[str], *, spam: bool) -> None:
        """One delivery process hands an inbound message to its local mailboxes."""
        r = self.r
        dpid = self.new_pid()
        td = msg.arrival + r.uniform(0.01, 0.2)
        qlen = len(self.queue)
        for rc in rcpts:
            td += r.uniform(0.002, 0.05)
            self.local_delivery(td, dpid, msg, rc, spam=spam)
        # a message with an address left deferred stays on the queue: no Completed yet
        if not any(q.msg is msg for q in self.queue[qlen:]):
            self.w.emit(td + 0.001, dpid, msg.mid, f"Completed QT={fmt_dur(td - msg.arrival + 0.001)}")

    def ep_outbound_auth(self, t: float) -> None:
        """Authenticated submission (mail clients on 587/465, webmail via localhost)."""
        r = self.r
        kind = "webmail" if r.random() < 0.25 else "client"
        host, ip = self.inbound_host(kind)
        lport = 587 if kind == "webmail" or r.random() < 0.7 else 465
        c = self.conn_open(t, host, ip, lport)
        all_era = self.era_all(t)
        acct, sender = self.local_box(r.choice(self.accounts[:120]))
        rcpts: list[str] = []
        for _ in range(1 if r.random() < 0.72 else r.randint(2, 6)):
            rc = self.remote_rcpt() if r.random() < 0.85 else self.local_box()[1]
            if rcpts and r.random() < 0.4:
                rc = f"{r.choice(FIRST_NAMES)}@{rcpts[0].rpartition('@')[2]}"
            if rc not in rcpts:
                rcpts.append(rc)
        t_data = t + r.uniform(0.4, 6.0)
        msg = Msg(self.make_mid(t_data, c.cpid), sender, self.size(), t_data + 0.04, all_era)
        sa = f"detected OUTGOING smtp message as NOT spam ({r.uniform(-2, 3.5):.1f})"
        self.w.emit(
            t_data + 0.02, c.cpid, msg.mid, f'{c.ident} Warning: "SpamAssassin as cpaneleximscanner {sa}"'
        )
        tls = kind != "webmail"
        parts = [f"<= {sender} H={c.fullhost} I=[{SRV_IP}]:{lport}"]
        if all_era:
            parts.append(f"Ci={c.cpid}")
        parts.append("P=esmtpsa" if tls else "P=esmtpa")
        if tls:
            parts.append(f"X={r.choice(TLS_IN)} CV=no")
            if all_era:
                parts.append(f"SNI=mail.{acct.domain}")
        parts.append(f"A=dovecot_{r.choice(('login', 'login', 'plain'))}:{sender}")
        parts.append(f"S={msg.size}")
        if all_era:
            parts.append(f"M8S=8 RT={fmt_dur(t_data - t + 0.1)}")
        parts.append(f"id={self.header_msgid('php' if kind == 'webmail' else 'other', acct.domain)}")
        parts.append(subject_field(self.subject()))
        parts.append(f"from <{sender}>")
        parts.append("for " + " ".join(rcpts))
        self.w.emit(msg.arrival, c.cpid, msg.mid, " ".join(parts))
        if r.random() < 0.3:
            # cPanel's own logwrite for outbound tracking (free text carrying the id twice)
            tracking = f"SMTP connection outbound {int(msg.arrival)} {msg.mid} {acct.domain} {sender}"
            self.w.emit(msg.arrival + 0.001, c.cpid, msg.mid, tracking)
        self.deliver_all(msg.arrival + r.uniform(0.02, 0.2), self.new_pid(), msg, rcpts, acct)
        self.conn_close(msg.arrival + r.uniform(0.05, 1.0), c)

    def ep_local_submit(self, t: float) -> None:
        """PHP mail(), cron and scripts calling /usr/sbin/sendmail as a cPanel user."""
        r = self.r
        acct = r.choice(self.accounts[:150])
        all_era = self.era_all(t)
        ppid = self.new_pid()
        cron = r.random() < 0.15
        if cron:
            cwd = f"/home/{acct.user}"
            args = ["/usr/sbin/sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", acct.user]
            sender = f"{acct.user}@{HOSTNAME}"
            rcpts = [sender]
            cmd = f"/usr/local/bin/php /home/{acct.user}/public_html/cron.php >/dev/null"
            subj = f"Cron <{acct.user}@srv42> {cmd}"
        else:
            home = f"/home/{acct.user}"
            cwd = r.choice(
                (f"{home}/public_html", f"{home}/public_html/wp-admin", f"{home}/public_html/shop", home)
            )
            sender = r.choice(
                (
                    f"wordpress@{acct.domain}",
                    f"noreply@{acct.domain}",
                    f"{acct.user}@{HOSTNAME}",
                    f"{r.choice(acct.boxes)}@{acct.domain}",
                )
            )
            args = ["/usr/sbin/sendmail", "-t", "-i"]
            if r.random() < 0.3:
                args.append(f"-f{sender}")
            elif r.random() < 0.05:
                args += ["-F", f"{acct.domain.split('.')[0].capitalize()} Website"]
            rcpts = [self.remote_rcpt() if r.random() < 0.8 else self.local_box(acct)[1]]
            if r.random() < 0.1:
                rcpts.append(f"{r.choice(acct.boxes)}@{acct.domain}")
            subj = r.choice(
                (
                    f"[{acct.domain}] New contact form submission",
                    f"[{acct.domain}] Password Reset",
                    f"Your {acct.domain} order #{r.randint(1000, 99999)} has been received",
                    self.subject(),
                )
            )
        # Exim quotes arguments that are empty or contain white space
        shown = " ".join(f'"{a}"' if (" " in a or not a) else a for a in args)
        self.w.emit(t, ppid, "", f"cwd={cwd} {len(args)} args: {shown}")
        t_arr = t + r.uniform(0.005, 0.08)
        msg = Msg(
            self.make_mid(t_arr, ppid), sender, max(500, int(r.lognormvariate(7.8, 0.9))), t_arr, all_era
        )
        idf = f"id*=E{msg.mid}@{HOSTNAME}" if all_era else ""
        if not cron and r.random() < 0.7:
            idf = f"id={self.header_msgid('php', acct.domain)}"
        body = f"<= {sender} U={acct.user} P=local S={msg.size}"
        if all_era:
            body += f" M8S=0 RT={fmt_dur(t_arr - t)}"
        if idf:
            body += " " + idf
        body += f" {subject_field(subj)} from <{sender}> for " + " ".join(rcpts)
        self.w.emit(t_arr, ppid, msg.mid, body)
        t_fork = t_arr + r.uniform(0.005, 0.05)
        if r.random() < 0.02:
            self.w.emit(t_fork, ppid, msg.mid, "no immediate delivery: load average 12.40")
            router, transport = self.remote_route()
            self.queue.append(Queued(msg, rcpts[0], t_arr + r.uniform(60, 900), "ok", router, transport))
            return
        # the user's sendmail cannot deliver as root: Exim re-executes itself with -Mc to do it
        dpid = self.new_pid()
        self.w.emit(t_fork, dpid, "", f"cwd=/var/spool/exim 3 args: /usr/sbin/exim -Mc {msg.mid}")
        self.deliver_all(t_fork + 0.01, dpid, msg, rcpts, acct)

    def _reject_reason(self, fullhost: str, ip: str) -> str:
        roll = self.r.random()
        if roll < 0.45:
            return f"JunkMail rejected - {fullhost} is in an RBL: {self.r.choice(RBLS).format(ip=ip)}"
        if roll < 0.75:
            return "No Such User Here"
        if roll < 0.9:
            return "relay not permitted"
        return "Sender verify failed"

    def ep_spam_reject(self, t: float) -> None:
        """Bots: RBL hits, dictionary attacks, relay attempts, HELO and sync-error rejections."""
        r = self.r
        host, ip = self.inbound_host("spam")
        if r.random() < 0.05:
            port = r.randint(1024, 65535)
            count = f"(TCP/IP connection count = {self.conn_count})"
            self.w.emit(t, self.daemon_pid, "", f"SMTP connection from [{ip}]:{port} I=[{SRV_IP}]:25 {count}")
            helo = host.split()[0].strip("()")
            self.w.emit(
                t + 0.01,
                self.new_pid(),
                "",
                "SMTP protocol synchronization error (input sent without waiting for greeting): rejected "
                f'connection from H=[{ip}]:{port} I=[{SRV_IP}]:25 input="EHLO {helo}\\r\\n"',
            )
            return
        c = self.conn_open(t, host, ip, 25)
        tt = t + r.uniform(0.2, 3)
        if "(" in host and r.random() < 0.3:
            self.w.emit(tt - 0.1, c.cpid, "", f"no host name found for IP address {ip}")
        roll = r.random()
        if roll < 0.06:
            self.w.emit(
                tt,
                c.cpid,
                "",
                f'H=[{ip}]:{c.fullhost.rpartition(":")[2]} {c.tail} rejected connection in "connect" ACL',
            )
            return
        if roll < 0.12:
            helo = host.split("(")[-1].split(")")[0] if "(" in host else ip
            self.w.emit(
                tt,
                c.cpid,
                "",
                f'{c.ident} rejected EHLO or HELO {helo}: HELO rejected: "{helo}" is not a valid hostname',
            )
            self.conn_close(tt + 0.3, c)
            return
        sender = f"{self._rand_word(r.randint(4, 9))}@{r.choice(self.spam_domains)}"
        n = 1 if r.random() < 0.7 else r.randint(2, 6)
        acct = r.choice(self.accounts)
        for i in range(n):
            rc = (
                f"{r.choice(FIRST_NAMES + ROLE_BOXES)}@{acct.domain}"
                if r.random() < 0.8
                else self.remote_rcpt()
            )
            reason = self._reject_reason(c.fullhost, ip)
            if not rc.endswith(acct.domain):
                reason = "relay not permitted"
            elif reason == "Sender verify failed":
                self.w.emit(
                    tt + i * 0.3,
                    c.cpid,
                    "",
                    f"{c.ident} sender verify fail for <{sender}>: Unrouteable address",
                )
            self.w.emit(
                tt + i * 0.3 + 0.01, c.cpid, "", f"{c.ident} F=<{sender}> rejected RCPT <{rc}>: {reason}"
            )
        if r.random() < 0.1:
            verify = "Could not complete sender verify"
            rc = f"{acct.boxes[0]}@{acct.domain}"
            self.w.emit(
                tt + n * 0.3 + 0.05,
                c.cpid,
                "",
                f"{c.ident} F=<{sender}> temporarily rejected RCPT <{rc}>: {verify}",
            )
        end = tt + n * 0.3 + r.uniform(0.1, 2)
        if r.random() < 0.2:
            dur = fmt_dur(end - t)
            self.w.emit(
                end,
                c.cpid,
                "",
                f"unexpected disconnection while reading SMTP command from {c.fullhost} {c.tail} D={dur}",
            )
        else:
            self.conn_close(end, c)

    def ep_auth_fail(self, t: float) -> None:
        """Password guessing against the submission ports."""
        r = self.r
        host, ip = self.inbound_host("spam")
        lport = r.choice((587, 587, 465, 25))
        c = self.conn_open(t, host, ip, lport)
        acct = r.choice(self.accounts)
        tt = t + r.uniform(0.5, 4)
        n = r.randint(1, 3)
        for i in range(n):
            who = r.choice(
                (
                    f"{r.choice(acct.boxes)}@{acct.domain}",
                    r.choice(acct.boxes),
                    "admin",
                    f"test@{acct.domain}",
                )
            )
            auth = r.choice(("dovecot_login", "dovecot_plain"))
            # up to 4.98 the client is written without a leading H= (4.99 added it)
            self.w.emit(
                tt + i * 2.1,
                c.cpid,
                "",
                f"{auth} authenticator failed for {c.fullhost} I=[{SRV_IP}]:{lport}: "
                "535 Incorrect authentication data "
                f"(set_id={who})",
            )
        end = tt + n * 2.1 + r.uniform(0.1, 1)
        if self.era_all(end) and r.random() < 0.6:
            cmds = ",".join(
                ["EHLO"] + (["STARTTLS", "EHLO"] if lport == 587 else []) + ["AUTH"] * n + ["QUIT"]
            )
            dur = fmt_dur(end - t)
            self.w.emit(
                end, c.cpid, "", f"no MAIL in SMTP connection from {c.fullhost} {c.tail} D={dur} C={cmds}"
            )
        elif r.random() < 0.15:
            drop = 'dropped: too many nonmail commands (last was "AUTH")'
            self.w.emit(end, c.cpid, "", f"SMTP call from {c.fullhost} I=[{SRV_IP}]:{lport} {drop}")
        else:
            self.conn_close(end, c)

    def ep_tls_error(self, t: float) -> None:
        r = self.r
        host, ip = self.inbound_host("spam")
        lport = r.choice((25, 465, 587))
        if lport == 465:
            # TLS-on-connect fails before any HELO, so only the address is known
            host = f"[{ip}]"
        c = self.conn_open(t, host, ip, lport)
        ci = f" Ci={c.cpid}" if self.era_all(t) else ""
        err = r.choice(TLS_ERRORS)
        self.w.emit(
            t + r.uniform(0.05, 5),
            c.cpid,
            "",
            f"TLS error on connection{ci} from {c.fullhost} I=[{SRV_IP}]:{lport} {err}",
        )

    def ep_scanner(self, t: float) -> None:
        """Port scanners and broken clients: no MAIL, command timeouts, HTTP on port 25."""
        r = self.r
        host, ip = self.inbound_host("spam")
        c = self.conn_open(t, f"[{ip}]", ip, 25)
        roll = r.random()
        end = t + r.uniform(0.1, 10)
        if roll < 0.3 and self.era_all(t):
            self.w.emit(
                t + 0.05, c.cpid, "", f'SMTP syntax error in "GET / HTTP/1.1" {c.ident} unrecognized command'
            )
            self.conn_close(end, c)
        elif roll < 0.45:
            end = t + 300 + r.random()
            self.w.emit(
                end,
                c.cpid,
                "",
                f"SMTP command timeout on connection from {c.fullhost} {c.tail} D={fmt_dur(end - t)}",
            )
        elif roll < 0.75 and self.era_all(t):
            helo = host.split("(")[-1].split(")")[0] if "(" in host else ip
            dur = fmt_dur(end - t)
            self.w.emit(
                end,
                c.cpid,
                "",
                f"no MAIL in SMTP connection from ({helo}) {c.fullhost} {c.tail} D={dur} C=EHLO,QUIT",
            )
        else:
            self.conn_close(end, c)

    def ep_misc(self, t: float) -> None:
        """Site logwrite text and other free-form lines (the ~1% that follows no catalogued shape)."""
        r = self.r
        pid = self.new_pid()
        acct = r.choice(self.accounts)
        roll = r.random()
        if roll < 0.06:
            q = ".".join(reversed(self.public_ip().split(".")))
            text = f"DNS list lookup defer (probably timeout) for {q}.zen.spamhaus.org: assumed not in list"
        elif roll < 0.10:
            text = "spam acl condition: error reading from spamd [127.0.0.1]:783, errno=104 "
            text += "(Connection reset by peer)"
        elif roll < 0.13:
            text = f"Long dnsdb lookup for '{r.choice(self.biz_domains)}': {r.randint(5000, 30000)} msec"
        elif roll < 0.16:
            # a two-line entry: the continuation line has no timestamp
            text = "Warning: purging the environment.\n Suggested action: use keep_environment."
        elif roll < 0.32:
            sent = r.randint(1, 99)
            text = f"cPanel outgoing limit check: {acct.domain} has sent {sent} of 500 messages this hour"
        elif roll < 0.44:
            text = f"Sender rate {r.uniform(50, 900):.1f} / 1h for {acct.user}"
        elif roll < 0.54:
            text = f"{acct.user}: mailbox quota at {r.randint(80, 99)}% (notice sent)"
        elif roll < 0.66:
            # logwrite inside a message's ACL: the line carries that message's id
            mid = self.make_mid(t - r.uniform(0, 2), pid)
            score = r.uniform(-2, 9)
            self.w.emit(
                t, pid, mid, f"outgoing_spam_check: score={score:.1f} sender={acct.user} action=accept"
            )
            return
        elif roll < 0.76:
            script = r.choice(
                ("wp-login.php", "xmlrpc.php", "contact.php", "wp-content/plugins/forms/send.php")
            )
            text = (
                f"X-PHP-Script: {acct.domain}/{script} for {self.public_ip()} (uid {r.randint(1000, 1400)})"
            )
        elif roll < 0.84:
            text = f'ACL_DEBUG rcpt={r.choice(acct.boxes)}@{acct.domain} h_from="\\"{acct.user}\\" <x@y>" n=3'
        elif roll < 0.92:
            text = f"quota-warn: {acct.user}@{HOSTNAME} at 9{r.randint(0, 9)}% of 5120M"
        else:
            triplet = f"({self.public_ip()}, <{self.remote_rcpt()}>)"
            text = f"custom: greylist triplet {triplet} first seen, 451 issued"
        self.w.emit(t, pid, "", text)

    # ----- queue runner ----------------------------------------------------------------------

    def queue_run(self, t: float) -> None:
        r = self.r
        qpid = self.new_pid()
        self.w.emit(t, qpid, "", f"Start queue run: pid={qpid}")
        tt = t + 0.05
        keep: list[Queued] = []
        items = self.queue[:]
        # queue_run_in_order is false by default: Exim visits the spool in random order
        r.shuffle(items)
        for q in items:
            tt += r.uniform(0.01, 0.4)
            dpid = self.new_pid()
            if self._queue_attempt(tt, dpid, q):
                keep.append(q)
        # Bound the spool: a real server's queue does not grow without limit over three days.
        self.queue = keep[-400:]
        self.w.emit(tt + 0.1, qpid, "", f"End queue run: pid={qpid}")

    def _queue_attempt(self, tt: float, dpid: int, q: Queued) -> bool:
        """One delivery process of a queue run; True when the message stays on the queue."""
        r = self.r
        mid = q.msg.mid
        if q.fate == "frozen":
            return self._queue_frozen(tt, dpid, q)
        if r.random() < 0.01:
            self.w.emit(
                tt, dpid, mid, f"Spool file for {mid} is locked (another process is handling this message)"
            )
            return True
        dom = q.rcpt.rpartition("@")[2]
        route = f"R={q.router} T={q.transport}"
        if tt < q.next_retry:
            if q.fate == "quota":
                self.w.emit(tt, dpid, mid, f"== {q.rcpt} {route} defer (-53): Retry time not yet reached")
            else:
                self.w.emit(
                    tt,
                    dpid,
                    mid,
                    f"== {q.rcpt} {route} defer (-54): retry time not reached for any host for '{dom}'",
                )
            return True
        age = tt - q.msg.arrival
        if q.fate == "dead" and age > 2 * 86400:
            self.w.emit(tt, dpid, mid, f"** {q.rcpt}: retry timeout exceeded")
            self.bounce(tt + 0.01, q.msg)
            self.w.emit(tt + 0.2, dpid, mid, f"Completed QT={fmt_dur(tt + 0.2 - q.msg.arrival)}")
            return False
        success = {"greylist": 0.85, "ratelimit": 0.5, "dead": 0.05, "quota": 0.4, "ok": 1.0}[q.fate]
        tmp = f"tmp/{int(tt)}.M{r.randint(100000, 999999)}P{dpid}.{HOSTNAME}"
        if r.random() < success:
            self._queue_delivered(tt, dpid, q, route)
            return False
        if q.fate == "quota":
            if age > 86400 * 1.5:
                self.w.emit(
                    tt,
                    dpid,
                    mid,
                    f"** {q.rcpt} {route} : mailbox is full "
                    f"(MTA-imposed quota exceeded while writing to {tmp})",
                )
                self.bounce(tt + 0.01, q.msg)
                self.w.emit(tt + 0.2, dpid, mid, f"Completed QT={fmt_dur(tt + 0.2 - q.msg.arrival)}")
                return False
            full = f"mailbox is full (MTA-imposed quota exceeded while writing to {tmp})"
            self.w.emit(tt, dpid, mid, f"== {q.rcpt} {route} defer (-22): {full}")
        else:
            rem = self.remote(dom)
            self.w.emit(tt, dpid, mid, f"H={rem.mx[0]} [{rem.ips[0]}] Connection refused")
            self.w.emit(tt + 0.001, dpid, mid, f"== {q.rcpt} {route} defer (111): Connection refused")
        q.next_retry = tt + r.uniform(1800, 7200)
        return True

    def _queue_frozen(self, tt: float, dpid: int, q: Queued) -> bool:
        """A frozen bounce stays frozen until its timer, then Exim gives it up; True while it stays."""
        mid = q.msg.mid
        if tt < q.next_retry:
            self.w.emit(tt, dpid, mid, "Message is frozen")
            return True
        self.w.emit(tt, dpid, mid, "Unfrozen by errmsg timer")
        self.w.emit(tt + 0.01, dpid, mid, f"** {q.rcpt} R={q.router} : No Such User Here")
        self.w.emit(tt + 0.011, dpid, mid, f"{q.rcpt}: error ignored")
        self.w.emit(tt + 0.012, dpid, mid, f"Completed QT={fmt_dur(tt + 0.012 - q.msg.arrival)}")
        return False

    def _queue_delivered(self, tt: float, dpid: int, q: Queued, route: str) -> None:
        """A queued message delivered at last: to its (no longer full) mailbox, or to a remote MX."""
        r = self.r
        mid = q.msg.mid
        if q.fate == "quota":
            qt = fmt_dur(tt - q.msg.arrival)
            local = q.rcpt.partition("@")[0]
            self.w.emit(tt, dpid, mid, f"=> {local} <{q.rcpt}> {route} QT={qt} DT=0.006s")
        else:
            rem = self.remote(q.rcpt.rpartition("@")[2])
            dt = r.uniform(0.2, 3)
            tls = f" X={rem.tls} CV={rem.cv}" if rem.tls else ""
            fp = f" F=<{q.msg.sender}> P=<{q.msg.sender}>" if self.era_all(tt) else ""
            host = f"H={rem.mx[0]} [{rem.ips[0]}]:25 I=[{SRV_IP}]:{r.randint(32768, 60999)}"
            conf = self.confirmation(rem, tt + dt, q.rcpt)
            timing = f"QT={fmt_dur(tt + dt - q.msg.arrival)} DT={fmt_dur(dt)}"
            tt += dt
            self.w.emit(tt, dpid, mid, f"=> {q.rcpt}{fp} {route} {host}{tls} {conf} {timing}")
        self.w.emit(tt + 0.001, dpid, mid, f"Completed QT={fmt_dur(tt + 0.001 - q.msg.arrival)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path, help="file to write")
    ap.add_argument("--lines", type=int, default=1_000_000, help="physical lines to write (default 1000000)")
    ap.add_argument(
        "--seed", type=int, default=1, help="random seed: the same seed and --lines give the same file"
    )
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Generator(args.out, args.lines, args.seed).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
