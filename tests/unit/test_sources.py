"""Where entries come from: where a followed file is read from again (its identity confirmed or not),
the rotated files a restart finds beside the followed path, and an archive's unterminated last line."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from shipper.checkpoints import Registry
from shipper.files.follow import follow_key
from shipper.files.identity import head_hash, identify, prefix_mark
from shipper.files.native import Rendered, native_for
from shipper.files.syslog import SyslogForm
from shipper.sources import ArchiveSource, Followers
from shipper.status import Status


def line(i: int) -> bytes:
    return f"2025-02-01 10:00:{i % 60:02d} [{1000 + i}] 1tXaaa-{i:011d}-0ABC Completed\n".encode()


def lines(a: int, b: int) -> bytes:
    return b"".join(line(i) for i in range(a, b))


def exim_only(head: bytes, mtime: float | None) -> SyslogForm | None:
    return None  # Exim's own format (syslog input is test_native_syslog.py's)


NATIVE = native_for("mx1", "UTC", "exim", lambda _path: "exim.main")


def key_of(path: Path) -> str:
    st = path.stat()
    return follow_key(st.st_dev, st.st_ino)


def followers(tmp_path: Path, log: Path) -> Followers:
    return Followers([str(log)], Registry(tmp_path / "state"), Status(), 1.0, exim_only, native=NATIVE)


def opened(tmp_path: Path, log: Path, registry_entry: dict[str, object]) -> dict[str, int]:
    """{path: resume offset} of the files a first scan opens, with `registry_entry` under the log's key."""
    f = followers(tmp_path, log)
    f.registry.files[key_of(log)] = {"path": str(log), **registry_entry}
    f.scan()
    got = {h.path: h.resume for h in f}
    for h in f:
        h.close()
    return got


def test_a_confirmed_checkpoint_resumes_and_anything_else_reads_from_0(tmp_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    log.write_bytes(lines(0, 40))  # over 1 KiB: a head hash
    head = head_hash(log.read_bytes()[:1024])
    assert opened(tmp_path, log, {"offset": 500, "head": head}) == {str(log): 500}
    assert opened(tmp_path, log, {"offset": 500, "head": "0" * 16}) == {str(log): 0}, "inode reused"
    assert opened(tmp_path, log, {"offset": 10**6, "head": head}) == {str(log): 0}, "truncated"
    assert opened(tmp_path, log, {"offset": 500}) == {str(log): 0}, "nothing confirms it: read again"


def test_a_small_file_is_confirmed_by_its_first_bytes_up_to_the_checkpoint(tmp_path: Path) -> None:
    """Under 1 KiB there is no head hash; the checkpoint's own prefix hash tells grown from rewritten."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(lines(0, 5))
    end = len(lines(0, 5))
    with log.open("rb") as fh:
        mark = prefix_mark(fh.fileno(), end)
    with log.open("ab") as fh:
        fh.write(line(5))  # grown while the sidecar was down
    assert opened(tmp_path, log, {"offset": end, "head": mark}) == {str(log): end}
    inode = log.stat().st_ino
    with log.open("wb") as fh:  # deleted and recreated, here on the same inode for certain
        fh.write(lines(100, 110))
    assert log.stat().st_ino == inode
    assert opened(tmp_path, log, {"offset": end, "head": mark}) == {str(log): 0}
    assert opened(tmp_path, log, {"offset": end, "head": "p12:notahash"}) == {str(log): 0}
    assert opened(tmp_path, log, {"offset": end, "head": "pxx:1"}) == {str(log): 0}


def test_a_restart_finds_the_file_renamed_away_by_its_inode(tmp_path: Path) -> None:
    """Killed right after exicyclog's rename: the registry's inode is now exim_mainlog.1."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(lines(0, 40))
    head = head_hash(log.read_bytes()[:1024])
    old_key = key_of(log)
    rotated = tmp_path / "exim_mainlog.1"
    log.rename(rotated)
    log.write_bytes(lines(40, 42))  # Exim created the file again
    f = followers(tmp_path, log)
    f.registry.files[old_key] = {"path": str(log), "offset": 700, "head": head}
    f.scan()
    got = {h.path: (h.resume, h.renamed) for h in f}
    assert got == {str(log): (0, False), str(rotated): (700, True)}
    for h in f:
        h.close()


def test_a_restart_finds_the_copy_a_copytruncate_made_by_its_head(tmp_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    log.write_bytes(lines(0, 40))
    head = head_hash(log.read_bytes()[:1024])
    key = key_of(log)
    shutil.copy(log, tmp_path / "exim_mainlog-20250201")
    log.write_bytes(lines(40, 41))  # truncated and written again: same inode, shorter
    f = followers(tmp_path, log)
    f.registry.files[key] = {"path": str(log), "offset": 700, "head": head}
    f.scan()
    got = {h.path: h.resume for h in f}
    assert got == {str(log): 0, str(tmp_path / "exim_mainlog-20250201"): 700}
    for h in f:
        h.close()


def test_the_search_leaves_finished_compressed_and_unrelated_files_alone(tmp_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    log.write_bytes(lines(0, 40))
    data = log.read_bytes()
    head = head_hash(data[:1024])
    done = tmp_path / "exim_mainlog.1"
    done.write_bytes(data)
    (tmp_path / "exim_mainlog.2.gz").write_bytes(gzip.compress(data))
    (tmp_path / "exim_mainlogger").write_bytes(data)  # another log that only starts with the name
    log.write_bytes(lines(40, 45))
    f = followers(tmp_path, log)
    f.registry.files[key_of(done)] = {"path": str(log), "offset": len(data), "head": head}  # read to its end
    f.scan()
    assert [h.path for h in f] == [str(log)]
    for h in f:
        h.close()


def test_a_growing_files_unterminated_last_line_waits_and_a_rotated_ones_is_shipped(tmp_path: Path) -> None:
    """Backfill: only a file known to be finished ships a last line that has no newline yet."""
    for name, shipped in (("exim_mainlog", 2), ("exim_mainlog.1", 3)):
        path = tmp_path / name
        path.write_bytes(lines(0, 2) + line(2)[:30])
        src = ArchiveSource(path, identify(path), 0, exim_only, NATIVE)
        got = []
        while not src.caught_up:
            got += [end for _code, _offset, end, *_ in src.poll(0.0, 0.0)]
        src.close()
        assert len(got) == shipped, name
        mark = src.mark(got[-1])
        assert mark.complete == (shipped == 3)
        assert mark.end == (path.stat().st_size if shipped == 3 else len(lines(0, 2)))


def _spans(*polled: Rendered) -> list[tuple[int, int]]:
    """`(offset, end)` of every entry polled."""
    return [(offset, end) for batch in polled for _code, offset, end, *_ in batch]


def _ack(f: Followers, end: int) -> None:
    """What Delivery does with a followed file's checkpoint once its batch is acknowledged."""
    (h,) = list(f)
    m = h.mark(end)
    f.registry.advance(m.key, m.path, m.end, head=m.head, restart=m.restart, save=False)


def test_a_file_read_again_from_0_replaces_its_checkpoint_rather_than_only_moving_it_forward(
    tmp_path: Path,
) -> None:
    """A stale offset beyond what is acknowledged of the new content would skip it after a restart, now
    that a small file's identity can be confirmed by its first bytes."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(lines(0, 40))
    f = followers(tmp_path, log)
    f.scan()
    (h,) = list(f)
    got = _spans(h.poll(0.0, 0.0), h.flush_pending())
    _ack(f, got[-1][1])
    key = h.key
    assert f.registry.offset(key) == len(lines(0, 40))
    with log.open("r+b") as fh:  # copytruncate, and Exim writes on
        fh.truncate(0)
    with log.open("ab") as fh:
        fh.write(lines(40, 45))
    got = _spans(h.poll(1.0, 0.0), h.flush_pending())
    assert [offset for offset, _end in got][:1] == [0]
    _ack(f, got[-1][1])
    assert f.registry.offset(key) == len(lines(40, 45))
    _ack(f, got[-1][1])
    assert f.registry.offset(key) == len(lines(40, 45)), "once: later checkpoints move forward again"
    h.close()
    # At a restart too: an entry that no longer confirms is read from 0, and its first mark says so.
    f = followers(tmp_path, log)
    f.registry.files[key] = {"path": str(log), "offset": 100, "head": "p100:0000"}
    f.scan()
    (h,) = list(f)
    assert h.mark(50).restart
    assert not h.mark(60).restart
    h.close()
