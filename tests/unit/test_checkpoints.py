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


def test_finished_means_acknowledged_to_the_end_of_the_same_file(tmp_path: Path) -> None:
    """What lets backfill skip a file: an archive complete at this very size, or a plain file whose
    checkpoint is its size; a compressed file's offsets (decompressed bytes) never count as its size."""
    reg = Registry(tmp_path)
    reg.advance("1:2:h", "/logs/exim_mainlog-20250101.gz", 9000, complete=True, size=1200)
    assert reg.finished("1:2:h", 1200, plain=False)
    assert not reg.finished("1:2:h", 1300, plain=False), "grew (a gzip member appended): read again"
    reg.advance("1:3:h", "/logs/exim_mainlog-20241231.gz", 9000, complete=True)
    assert not reg.finished("1:3:h", 9000, plain=False), "complete but size unknown (older registry)"
    reg.advance("1:4:h", "/logs/exim_mainlog", 500)
    assert reg.finished("1:4:h", 500, plain=True)
    assert not reg.finished("1:4:h", 800, plain=True), "lines appended since"
    assert not reg.finished("1:4:h", 500, plain=False)
    assert not reg.finished("9:9:h", 0, plain=True), "never seen, even when empty"
    again = Registry(tmp_path)
    assert again.finished("1:2:h", 1200, plain=False), "the size is saved with the registry"
