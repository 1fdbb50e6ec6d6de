"""Message correlation: states, arrival time from the id, bounded memory, and an order-free merge. The
summaries are the core's (`parse --messages`' and the ship loop's correlators); the merge of stored
states is Python's (`shipper.messages.merge`, which the summary upserts use) over the core's partials."""

from __future__ import annotations

import random
from functools import reduce
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper.messages import Partial, accumulate, from_state, merge, summary, to_state
from tests.conftest import SHARED
from tests.parsing import documents, read, states, stored, summaries_by_id

SAMPLE = Path(__file__).resolve().parents[2] / "shipper" / "samples" / "exim_mainlog"


def _docs(log: str) -> list[dict[str, Any]]:
    """The core's documents of a log's entries (test_message_output reads them too)."""
    return documents(log, server="mx1")


def _summaries(log: str, max_open: int = 100) -> dict[str, dict[str, Any]]:
    """`parse --messages`' summaries of a log by id."""
    return summaries_by_id(log, server="mx1", max_open=max_open)


def _partials(log: str) -> list[Partial]:
    """The partial summaries the core makes of a log's entries, in order."""
    return [from_state(s) for s in states(log, server="mx1")]


def _merged(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The summaries of stored documents merged by id, as the cluster's stored states would be."""
    acc: dict[str, Partial] = {}
    for doc in docs:
        accumulate(acc, from_state(doc["exim"]["merge_state"]))
    return {k: summary(v) for k, v in acc.items()}


ID = "1tXaaa-00000001abc-0ABC"
A = f"2025-01-31 10:00:00 {ID} <= s@x.example H=h [192.0.2.1] P=esmtp S=100 for a@y.example b@z.example\n"
DA = f"2025-01-31 10:00:01 {ID} => a@y.example R=r T=t H=mx.y.example [192.0.2.2]\n"
DB = f"2025-01-31 10:00:01 {ID} => b@z.example R=r T=t H=mx.z.example [192.0.2.3]\n"
FB = f"2025-01-31 10:00:01 {ID} ** b@z.example R=r T=t H=mx.z.example [192.0.2.3] : SMTP error from remote mail server after RCPT TO:<b@z.example>: 550 5.1.1 no such user\n"
QB = f"2025-01-31 10:00:01 {ID} == b@z.example R=r T=t defer (-44) H=mx.z.example [192.0.2.3]: SMTP error from remote mail server after RCPT TO:<b@z.example>: 451 4.7.1 greylisted, try again\n"
FA = f"2025-01-31 10:00:01 {ID} ** a@y.example : Unrouteable address\n"
C = f"2025-01-31 10:05:00 {ID} Completed\n"


@pytest.mark.parametrize(
    ("log", "state"),
    [
        (A, "received"),
        (A + DA + QB, "deferred"),
        (A + DA + DB + C, "delivered"),
        (A + DA + FB + C, "partially_delivered"),
        (A + FA + FB + C, "bounced"),
        (
            A + QB + DA + QB.replace("10:00:01", "10:30:00") + DB.replace("10:00:01", "11:00:00") + C,
            "delivered",
        ),
        (
            f"2025-01-31 10:00:00 {ID} H=(x) [192.0.2.9] F=<s@x.example> rejected after DATA: spam detected\n",
            "rejected",
        ),
        (A + FA + f"2025-01-31 10:00:02 {ID} Frozen (delivery error message)\n", "frozen"),
        (
            A
            + f"2025-01-31 10:00:02 {ID} Frozen\n2025-01-31 10:01:00 {ID} Unfrozen by forced delivery\n"
            + DA
            + DB
            + C,
            "delivered",
        ),
        (
            A + QB + f"2025-01-31 10:02:00 {ID} removed by root\n2025-01-31 10:02:00 {ID} Completed\n",
            "removed",
        ),
    ],
    ids=[
        "received",
        "deferred",
        "delivered",
        "partial",
        "bounced",
        "retried",
        "rejected",
        "frozen",
        "thawed",
        "removed",
    ],
)
def test_states(log: str, state: str) -> None:
    """Each of the eight states from a small message history."""
    assert _summaries(log)[ID]["exim"]["state"] == state


def test_summary_fields() -> None:
    """Attempts, first/last deferral, delay, per-recipient outcome and the last error class."""
    s = _summaries(A + QB + DA + QB.replace("10:00:01", "10:30:00") + FB.replace("10:00:01", "11:00:00") + C)[
        ID
    ]
    ex = s["exim"]
    assert ex["attempts"] == 3  # 10:00:01, 10:30:00, 11:00:00
    assert ex["first_deferral"]["time"] == "2025-01-31T10:00:01.000Z"
    assert ex["last_deferral"]["time"] == "2025-01-31T10:30:00.000Z"
    assert ex["first_deferral"]["class"] == "greylisted"
    assert ex["last_error_class"] == "unknown_user"
    assert ex["total_delay"] == 300.0
    assert ex["first_seen"] == "2025-01-31T10:00:00.000Z"
    assert ex["last_seen"] == "2025-01-31T11:00:00.000Z"
    assert ex["completed_time"] == "2025-01-31T10:05:00.000Z"
    assert {r["address"]: r["outcome"] for r in ex["recipients"]} == {
        "a@y.example": "delivered",
        "b@z.example": "failed",
    }
    assert s["email"]["from"]["address"] == "s@x.example"
    assert s["@timestamp"] == "2025-01-31T10:00:00.000Z"


def test_id_time_and_arrival_in_another_file() -> None:
    """Without its `<=` line, the arrival time is decoded from the id's first six characters."""
    s = _summaries("2014-08-10 15:53:00 1XGVPd-000707-4Y => a@b.example R=r T=t\n")["1XGVPd-000707-4Y"]
    assert s["exim"]["arrival_time"] == "2014-08-10T15:52:01.000Z"
    assert s["exim"]["arrival_time_source"] == "message_id"


def test_bounce_links_both_ways() -> None:
    """A locally generated bounce names the message it bounces, and that message names it."""
    bounce = "1tXbbb-00000002abc-0DEF"
    log = A + FA + f"2025-01-31 10:00:02 {bounce} <= <> R={ID} U=mailnull P=local S=1 for s@x.example\n"
    sums = _summaries(log)
    assert sums[bounce]["exim"]["bounce_of"] == ID
    assert sums[ID]["exim"]["bounced_by"] == [bounce]
    assert "from" not in sums[bounce]["email"]


def test_cap_flushes_oldest_and_partials_merge_back() -> None:
    """With a cap of one open message, the ship loop's correlator hands out evicted pieces, whose stored
    states merge to the uncapped summary."""
    other = "1tXccc-00000003abc-0GHI"
    log = A + f"2025-01-31 10:00:00 {other} <= o@x.example U=o P=local S=1 for z@z.example\n" + DA + DB + C
    full = stored(log, max_open=100, server="mx1")
    capped = stored(log, max_open=1, server="mx1")
    assert len(full) == 2
    assert len(capped) >= 3  # the eviction and the completed message
    assert _merged(capped) == _merged(full) == _summaries(log)
    assert {d["email"]["local_id"]: d["exim"]["state"] for d in full} == {ID: "delivered", other: "received"}


# The loop correlator's bookkeeping (finished messages leave at once, `oldest`, `older_than`) is the
# cargo test `messages::correlator::tests::finished_leaves_at_once_and_the_cap_evicts_the_oldest`.


ALIAS_ID = "1tAlia-00000000001-0001"
# An alias with two targets, one of which fails; the parent was deferred once before it was routed.
ALIAS = (
    f"2025-03-30 10:00:00 {ALIAS_ID} <= carol@shop.example H=mail.shop.example [203.0.113.5] P=esmtp S=1200 "
    "for support@fleet.test sales@fleet.test\n"
    f"2025-03-30 10:00:00 {ALIAS_ID} == support@fleet.test R=virtual_aliases defer (-1): lookup deferred\n"
    f"2025-03-30 10:00:01 {ALIAS_ID} ** nobody-here@fleet.test <support@fleet.test> R=virtual_aliases: "
    "Unrouteable address\n"
    f"2025-03-30 10:00:01 {ALIAS_ID} => dave <support@fleet.test> R=localuser T=local_delivery\n"
    f"2025-03-30 10:00:01 {ALIAS_ID} -> dave <sales@fleet.test> R=localuser T=local_delivery\n"
    f"2025-03-30 10:00:01 {ALIAS_ID} Completed\n"
)


def test_alias_outcomes_are_per_final_address() -> None:
    """An alias expanding to two addresses, one failing: two outcomes, each with the address it came from;
    the message is partially delivered, and the expanded parents are not left `pending`."""
    s = _summaries(ALIAS)[ALIAS_ID]
    assert s["exim"]["state"] == "partially_delivered"
    rcpts = {r["address"]: r for r in s["exim"]["recipients"]}
    assert set(rcpts) == {"dave", "nobody-here@fleet.test"}
    assert rcpts["dave"]["outcome"] == "delivered"
    assert rcpts["dave"]["original_address"] == ["sales@fleet.test", "support@fleet.test"]
    assert rcpts["nobody-here@fleet.test"]["outcome"] == "failed"
    assert rcpts["nobody-here@fleet.test"]["original_address"] == ["support@fleet.test"]
    assert s["email"]["to"]["address"] == ["dave", "nobody-here@fleet.test"]
    # Without the failing target it is delivered; an alias that only failed is bounced.
    lines = ALIAS.splitlines(keepends=True)
    assert _summaries("".join(lines[:2] + lines[3:]))[ALIAS_ID]["exim"]["state"] == "delivered"
    assert _summaries("".join(lines[:3] + lines[5:]))[ALIAS_ID]["exim"]["state"] == "bounced"


def test_a_parent_with_its_own_outcome_stays() -> None:
    """An address that was itself delivered (a copy kept, `unseen` routers) is a recipient beside its targets."""
    log = (
        f"2025-03-30 10:00:00 {ALIAS_ID} <= c@shop.example U=c P=local S=10 for list@fleet.test\n"
        f"2025-03-30 10:00:01 {ALIAS_ID} => list@fleet.test R=localuser T=local_delivery\n"
        f"2025-03-30 10:00:01 {ALIAS_ID} => x@remote.example <list@fleet.test> R=dnslookup T=remote_smtp H=mx [192.0.2.9]\n"
        f"2025-03-30 10:00:01 {ALIAS_ID} Completed\n"
    )
    s = _summaries(log)[ALIAS_ID]
    assert [(r["address"], r["outcome"]) for r in s["exim"]["recipients"]] == [
        ("list@fleet.test", "delivered"),
        ("x@remote.example", "delivered"),
    ]


def test_removed_then_completed_is_one_finished_message() -> None:
    """`removed by` is followed by `Completed`: the message stays open until then, and leaves once."""
    log = A + f"2025-01-31 10:02:00 {ID} removed by root\n2025-01-31 10:02:00 {ID} Completed\n"
    out = stored(log, max_open=100, server="mx1")
    assert [d["email"]["local_id"] for d in out] == [ID]
    assert out[0]["exim"]["state"] == "removed"
    # Stopped before `Completed`, the message is still open: drained, it is removed but not completed.
    (held,) = stored(log.rsplit("2025-01-31 10:02:00", 1)[0], max_open=100, server="mx1")
    assert held["exim"]["state"] == "removed"
    assert "completed_time" not in held["exim"]


def _histories() -> list[list[list[Partial]]]:
    """Real message histories, as the core's partials of each entry with a message id: the bundled sample,
    plus Exim's test-suite logs when ../shared exists."""
    texts = [SAMPLE.read_text(), ALIAS]
    corpus = SHARED / "corpus" / "exim-testsuite" / "mainlog"
    if corpus.exists():
        texts += [p.read_text(errors="replace") for p in sorted(corpus.iterdir())[:120]]
    out = []
    for text in texts:
        facts = [e.facts for e in read(text, server="mx1").entries if e.facts]
        entries = [[from_state(s) for s in orjson.loads(f)] for f in facts]
        if entries:
            out.append(entries)
    return out


HISTORIES = _histories()


def _fold(parts: list[Partial]) -> dict[str, Partial]:
    acc: dict[str, Partial] = {}
    for p in parts:
        accumulate(acc, p)
    return acc


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(range(len(HISTORIES))), st.randoms(use_true_random=False), st.integers(1, 6))
def test_merge_is_order_free(index: int, rnd: random.Random, chunks: int) -> None:
    """Shuffled, duplicated and split into runs merged in any order: the same summaries."""
    docs = HISTORIES[index]
    reference = {k: summary(v) for k, v in _fold([p for d in docs for p in d]).items()}
    mixed = docs + rnd.sample(docs, k=min(len(docs), rnd.randint(0, len(docs))))  # duplicates
    rnd.shuffle(mixed)
    cuts = (
        sorted(rnd.sample(range(1, len(mixed)), k=min(chunks - 1, len(mixed) - 1))) if len(mixed) > 1 else []
    )
    runs = [mixed[i:j] for i, j in zip([0, *cuts], [*cuts, len(mixed)], strict=True)]
    run_partials = [_fold([p for d in run for p in d]) for run in runs]  # e.g. one per file / run
    rnd.shuffle(run_partials)
    combined = reduce(
        lambda a, b: {
            k: merge(a[k], b[k]) if k in a and k in b else a.get(k) or b[k] for k in a.keys() | b.keys()
        },
        run_partials,
    )
    assert {k: summary(v) for k, v in combined.items()} == reference


@given(st.sampled_from(range(len(HISTORIES))), st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None)
def test_merge_laws_pairwise(index: int, rnd: random.Random) -> None:
    """merge is commutative, associative and idempotent on real partials of one message."""
    parts = [p for d in HISTORIES[index] for p in d]
    by_id: dict[str, list[Partial]] = {}
    for p in parts:
        by_id.setdefault(p["id"], []).append(p)
    group = max(by_id.values(), key=len)
    a, b, c = (rnd.choice(group) for _ in range(3))
    assert merge(a, b) == merge(b, a)
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    assert merge(a, a) == a


def test_message_known_only_from_its_bounce() -> None:
    """A bounce naming a message whose own lines are elsewhere still yields a summary of it."""
    bounce = "1tXbbb-00000002abc-0DEF"
    sums = _summaries(f"2025-01-31 10:00:02 {bounce} <= <> R={ID} U=mailnull P=local S=1 for s@x.example\n")
    original = sums[ID]
    assert original["exim"]["state"] == "bounced"
    assert original["exim"]["bounced_by"] == [bounce]
    assert original["exim"]["arrival_time_source"] == "message_id"
    assert original["@timestamp"] == original["exim"]["arrival_time"]


def test_summaries_stored_with_the_dropped_deferred_last_key_still_merge() -> None:
    """0.1.0 stored `deferred_last` per recipient, which nothing read: two stored states holding it (a
    dead letter replayed onto a stored summary) merge, and give the summary the lines alone give."""
    first = A + QB
    later = QB.replace("10:00:01", "10:30:00") + DB.replace("10:00:01", "11:00:00") + C

    def stored_state(log: str, deferred_last: str) -> dict[str, Any]:
        acc: dict[str, Partial] = {}
        for part in _partials(log):
            accumulate(acc, part)
        state = to_state(acc[ID])
        state["rcpt"]["b@z.example"]["deferred_last"] = deferred_last  # as 0.1.0 wrote it
        return state

    merged = merge(
        from_state(stored_state(first, "2025-01-31T10:00:01.000Z")),
        from_state(stored_state(later, "2025-01-31T10:30:00.000Z")),
    )
    assert summary(merged) == _summaries(first + later)[ID]
    assert summary(merged)["exim"]["state"] == "delivered"
