"""Robustness over Exim's own test-suite logs (../shared/corpus/exim-testsuite), skipped when absent.

The corpus holds ~3,000 entries of free text chosen by the test configurations (`logwrite`,
`log_message`, event actions) plus harness artefacts (server separators, sort banners). Real servers
write free text too, so the parser rightly leaves such entries `unrecognized`; the share that counts
excludes only entries matching TESTSUITE_FREE_TEXT, a list of those test-config texts, and both shares
are printed.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.parsing import original_bytes, read

TESTSUITE_FREE_TEXT = re.compile(
    r"^(?:\s*\*+ ?SERVER|\*\*NOTE|=====|Check that|"
    # logwrite/log_message/event_action output of the test configurations
    r"(?:peer|our) (?:cert|dn)|Our cert|Peer (?:cert|did)|bits\b|cipher|ver\b|ver:|tls_(?:in|out)_|tls:|tls session|"
    r"ocsp|client (?:claims|ocsp)|acl_\w+|ACL (?:conn|notquit)|event |msg\b|msg:|\"[^\"]*\"|rcpt |data_acl|"
    r"dkim_|dmarc_|spf_|arc_|lh[-_]|oldest-|reason:|domains:|signer:|overall |malware_name|Authentication-Results|"
    r"at (?:RCPT|MAIL|DATA)|h_\w+|\$\w+|x-test|random|sender_|authenticated_|interface_|received_|"
    r"SN |IN |NB|NA|SA |SG |SR |SAN|CRU|OCU|OCSP|sha\d|md5|der_b64|\(no |proxy |remote |local |pla |"
    r"\. |Accepted|Messages |Recipients|accepted by|mail accepted|rcpt accepted|test\w*\b|should |this will|"
    r"Auth ACL|eval |using queue|queue_size|router\s+was|server cert|NOTQUIT|prdr_requested|smtp:ehlo|"
    r"dane:|custom-message|Denying|M <dns|<dns|\d+: |Test:|NO CLIENT|IN  |depth|Ci=\S+ SMTP peer|"
    r"client |WELLKNOWN|\[127\.0\.0\.1\] (?:WELLKNOWN|->)|peer close|\S+ claims)",
)
PREFIX = re.compile(r"^[\d-]+ [\d:.]+(?: [+-]\d{4})?(?: \[\d+\])?(?: \w{6}-\w+-\w+)? ?")


def _run(kind: str) -> tuple[Counter[str], int, list[str]]:
    base = shared_path("corpus", "exim-testsuite", kind)
    actions: Counter[str] = Counter()
    free_text = 0
    untagged: list[str] = []
    for path in sorted(Path(base).iterdir()):
        # Every document the core writes must be JSON: `read` loads each one.
        log = read(path.read_bytes(), server="corpus", dataset=f"exim.{kind.removesuffix('log')}")
        for doc in log.docs:
            data = original_bytes(doc)
            assert "parse_error" not in doc.get("exim", {}), (path.name, data[:200], doc)
            action = doc["event"]["action"]
            actions[action] += 1
            if action == "unrecognized":
                body = PREFIX.sub("", data.decode("utf-8", "replace"), count=1).lstrip("\n")
                if TESTSUITE_FREE_TEXT.match(body):
                    free_text += 1
                else:
                    untagged.append(f"{path.name}: {body[:120]!r}")
    return actions, free_text, untagged


@pytest.mark.parametrize("kind", ["mainlog", "rejectlog", "paniclog"])
def test_corpus_parses_and_is_recognised(kind: str) -> None:
    """No exception on any entry; unrecognized entries (test-config free text aside) stay under 2%."""
    actions, free_text, untagged = _run(kind)
    total = sum(actions.values())
    unrecognized = actions["unrecognized"]
    share = len(untagged) / (total - free_text)
    print(
        f"\n{kind}: {total} entries, {unrecognized} unrecognized ({100 * unrecognized / total:.2f}%), "
        f"of which {free_text} test-config free text; remaining unrecognized {len(untagged)} "
        f"({100 * share:.2f}%)"
    )
    for line in untagged[:15]:
        print("   ", line)
    assert share < 0.02, untagged[:40]
    assert len(actions) > (40 if kind == "mainlog" else 5)


def test_corpus_flag_counts_match_catalogue_stats() -> None:
    """The flag counts agree with the corpus's own STATS.md (3251 <=, 2370 =>, 601 **, 688 ==)."""
    actions, _, _ = _run("mainlog")
    assert actions["message_arrived"] == 3251
    assert actions["delivered"] == 2370
    assert actions["delivered_additional"] == 709
    assert actions["delivery_failed"] == 601
    assert actions["delivery_deferred"] == 688
    assert actions["delivered_cutthrough"] == 34
    assert actions["delivery_suppressed"] == 50
