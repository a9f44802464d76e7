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
