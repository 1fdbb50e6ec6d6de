"""File labels: the part of the paths that tells files apart, cut in the middle to fit."""

from __future__ import annotations

from shipper.file_labels import labels, shorten


def test_labels_are_file_names_unless_two_share_one() -> None:
    assert labels(["/var/log/exim4/mainlog.1", "/var/log/exim4/mainlog.2.gz"]) == [
        "mainlog.1",
        "mainlog.2.gz",
    ]
    assert labels(["/srv/logs/mx1/mainlog.1", "/srv/logs/mx2/mainlog.1", "/srv/logs/mx2/rejectlog"]) == [
        "mx1/mainlog.1",
        "mx2/mainlog.1",
        "mx2/rejectlog",
    ]


def test_shorten_keeps_both_ends() -> None:
    assert shorten("exim_mainlog-20250101.gz", 30) == "exim_mainlog-20250101.gz"
    cut = shorten("exim_mainlog-20250101.gz", 16)
    assert cut == "exim_m…250101.gz" and len(cut) == 16
    assert shorten("abcdef", 1) == "…" and shorten("abcdef", 0) == ""
