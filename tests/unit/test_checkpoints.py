"""Where a followed file is read from again after a restart (the sidecar's and `health`'s one rule)."""

from __future__ import annotations

from pathlib import Path

from shipper.checkpoints import Registry


def test_resume_is_the_checkpoint_unless_the_inode_holds_another_file_or_was_truncated(
    tmp_path: Path,
) -> None:
    reg = Registry(tmp_path)
    reg.advance("1:2", "/var/log/exim_mainlog", 500, head="h1")
    assert reg.resume("1:2", "h1", 800) == 500
    assert reg.resume("1:2", "", 800) == 500, "a head not known yet (short file) is no evidence of a new file"
    assert reg.resume("1:2", "h2", 800) == 0, "the inode was reused by a different file"
    assert reg.resume("1:2", "h1", 400) == 0, "truncated while we were away"
    assert reg.resume("9:9", "h1", 800) == 0, "never seen"
