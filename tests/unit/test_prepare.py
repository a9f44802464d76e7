"""Raw text -> Parquet rows: text8-style single lines are cut, multi-line files keep lines."""

import bz2
import gzip

import pyarrow.parquet as pq
import pytest

from sparkw2v.errors import InputError, OutputExistsError
from sparkw2v.prepare import iter_rows, prepare_text


def test_long_single_line_is_cut_into_rows_with_small_blocks(tmp_path):
    words = [f"w{i % 97}" for i in range(2503)]
    path = tmp_path / "t8.txt"
    path.write_text(" " + " ".join(words))
    rows = list(iter_rows(str(path), row_tokens=1000, block_bytes=64))
    assert [len(r.split()) for r in rows] == [1000, 1000, 503]
    assert " ".join(rows).split() == words


def test_multi_line_file_keeps_lines_and_compression(tmp_path):
    text = "first line here\n\nsecond  line\tx\nthird\n"
    for name, opener in [("a.txt.gz", gzip.open), ("b.txt.bz2", bz2.open)]:
        with opener(tmp_path / name, "wt") as fh:
            fh.write(text)
    (tmp_path / "c.txt").write_text(text)
    for name in ("a.txt.gz", "b.txt.bz2", "c.txt"):
        assert list(iter_rows(str(tmp_path / name), 1000, block_bytes=5)) == \
            ["first line here", "second line x", "third"]


def test_prepare_directory_writes_parquet_and_success(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "1.txt").write_text("a b c\nd e\n")
    (src / "2.txt").write_text("f g\n")
    (src / ".hidden").write_text("zzz\n")
    out = tmp_path / "out"
    stats = prepare_text(str(src), str(out), row_tokens=2, rows_per_file=2)
    assert stats["rows"] == 4 and stats["tokens"] == 7
    table = pq.read_table(str(out))
    assert sorted(table.column("text").to_pylist()) == ["a b", "c", "d e", "f g"]
    assert (out / "_SUCCESS").exists()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        prepare_text(str(src), str(out))


def test_prepare_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        prepare_text(str(tmp_path / "missing.txt"), str(tmp_path / "o1"))
    (tmp_path / "empty.txt").write_text("  \n\n")
    with pytest.raises(InputError, match="holds no text"):
        prepare_text(str(tmp_path / "empty.txt"), str(tmp_path / "o2"))
    assert not (tmp_path / "o2").exists()
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(InputError, match="not valid UTF-8 near byte 3"):
        prepare_text(str(tmp_path / "latin1.txt"), str(tmp_path / "o3"))


@pytest.mark.parametrize("opener, name", [(open, "bom.txt"), (gzip.open, "bom.txt.gz")])
def test_a_byte_order_mark_at_the_start_is_dropped_not_glued_to_the_first_word(tmp_path, opener, name):
    with opener(tmp_path / name, "wb") as fh:
        fh.write("\ufeffthe cat sat\nthe \ufeffdog\n".encode("utf-8"))
    # read a byte at a time: the mark is split across blocks and still recognised
    assert list(iter_rows(str(tmp_path / name), 1000, block_bytes=1)) == ["the cat sat", "the \ufeffdog"]
    (tmp_path / "two").mkdir()
    for i in range(2):  # at the start of every file, not only the first
        (tmp_path / "two" / f"{i}.txt").write_bytes(b"\xef\xbb\xbfword%d\n" % i)
    stats = prepare_text(str(tmp_path / "two"), str(tmp_path / "out"))
    assert stats["rows"] == 2
    assert sorted(pq.read_table(str(tmp_path / "out")).column("text").to_pylist()) == ["word0", "word1"]


def _tiny_tmpfs(path):
    """A 256 KiB tmpfs at ``path`` (a real full disk); skipped where mounting is not allowed."""
    import subprocess

    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()[:100]}): needs root; "
                    "test_a_full_disk_simulated covers the same path")
    return path


def _prepare_job_on_a_full_disk(tmp_path, capsys, out):
    import os

    from tests.jobs_util import load_job

    raw = tmp_path / "raw.txt"
    raw.write_text(" ".join(os.urandom(8).hex() for _ in range(200_000)))  # ~3.4 MB of distinct words
    code = load_job("prepare").main(["--input", str(raw), "--output", str(out), "--rows-per-file", "100"])
    captured = capsys.readouterr()
    return code, captured


def test_a_full_disk_during_prepare_is_one_line(tmp_path, capsys):
    import subprocess

    disk = _tiny_tmpfs(tmp_path / "disk")
    try:
        (disk / "mine.txt").write_text("a user's file")
        out = disk / "corpus"
        code, captured = _prepare_job_on_a_full_disk(tmp_path, capsys, out)
        assert code == 2 and captured.out == ""
        errors = [line for line in captured.err.splitlines() if not line.split(" ", 3)[2:3] == ["INFO"]]
        assert errors == [f"prepare: error: writing the corpus to {str(out)!r} failed: the disk is full; nothing "
                          "was kept (the unfinished corpus is removed): free some space or choose an --output on "
                          "a disk with room, then run it again"], captured.err
        assert sorted(p.name for p in disk.iterdir()) == ["mine.txt"]  # the space is given back
        assert (disk / "mine.txt").read_text() == "a user's file"
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_simulated(tmp_path, capsys, monkeypatch):
    """The same without a mount: the filesystem refuses the second part file with ENOSPC."""
    import errno

    import sparkw2v.prepare

    real = pq.write_table
    calls = []

    def full(table, where, **kwargs):
        calls.append(where)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")
        return real(table, where, **kwargs)

    monkeypatch.setattr(sparkw2v.prepare.pq, "write_table", full)
    out = tmp_path / "corpus"
    code, captured = _prepare_job_on_a_full_disk(tmp_path, capsys, out)
    assert code == 2 and captured.out == "" and len(calls) == 2
    assert f"prepare: error: writing the corpus to {str(out)!r} failed: the disk is full;" in captured.err
    assert "Traceback" not in captured.err
    assert not out.exists() and not (tmp_path / "corpus.partial").exists()
