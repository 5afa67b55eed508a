"""Local paths and ``file://`` URLs: the same numbers from both, atomic results; a store with a rename."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from airflow_provider_msgflash.storage import JsonLinesWriter, iter_numbers, read_numbers

#: file name -> (content, the numbers read from it)
FILES = {
    "a.txt": (
        "# header comment\n+41790000001\n\n  +41790000002  \n   # indented comment\n+41790000003",
        ["+41790000001", "+41790000002", "+41790000003"],
    ),
    "b.csv": ("\ufeffname;x,phone\nAna,+41790000001\nBo,\nCy,+41790000002\n", ["+41790000001", "+41790000002"]),
    "c.csv": ("+41790000001,Ana\n+41790000002,Bo\n", ["+41790000001", "+41790000002"]),
    "d.json": (json.dumps(["+41790000001", 41790000002]), ["+41790000001", 41790000002]),
    "e.CSV": ("number\n+41790000009\n", ["+41790000009"]),
    "f.csv": ("", []),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_local_paths_and_file_urls(tmp_path: Path, name: str) -> None:
    content, expected = FILES[name]
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert read_numbers(str(path)) == expected
    assert read_numbers(f"file://{path}") == expected


def test_iter_numbers_is_lazy(tmp_path: Path) -> None:
    path = tmp_path / "n.txt"
    path.write_text("+41790000001\n+41790000002\n", encoding="utf-8")
    it = iter_numbers(str(path))
    assert next(it) == "+41790000001"
    path.unlink()  # the file is already open: the rest is still read from it
    assert list(it) == ["+41790000002"]


@pytest.mark.parametrize("url", [False, True])
def test_local_writer_is_atomic(tmp_path: Path, url: bool) -> None:
    target = tmp_path / "deep" / "out.jsonl"
    w = JsonLinesWriter(f"file://{target}" if url else str(target))
    w.write(["+41790000001", "+41790000002"], "on_whatsapp", "lk_1")
    w.write(["x"], "invalid", None, "unparseable")
    assert not target.exists() and (tmp_path / "deep" / "out.jsonl.part").exists()
    w.close()
    assert [json.loads(x) for x in target.read_text().splitlines()] == [
        {"number": "+41790000001", "status": "on_whatsapp", "lookup_id": "lk_1"},
        {"number": "+41790000002", "status": "on_whatsapp", "lookup_id": "lk_1"},
        {"number": "x", "status": "invalid", "lookup_id": None, "reason": "unparseable"},
    ]
    assert w.lines == 3
    assert not (tmp_path / "deep" / "out.jsonl.part").exists()


def test_local_abort_keeps_the_previous_result(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("yesterday\n")
    w = JsonLinesWriter(str(target))
    w.write(["+41790000001"], "on_whatsapp", "lk_1")
    w.abort()
    w.abort()  # twice is harmless
    assert target.read_text() == "yesterday\n"
    assert os.listdir(tmp_path) == ["out.jsonl"]
    with pytest.raises(Exception, match="already closed"):
        w.write(["+41790000002"], "on_whatsapp", "lk_1")


def test_store_with_a_rename_uses_a_part_object() -> None:
    """A store that is neither local nor write-once (here fsspec's in-memory store, attached the way a
    provider registers one) gets ``<name>.part`` renamed on close, and nothing on abort."""
    import fsspec

    try:
        from airflow.sdk.io import attach
    except ImportError:  # Airflow 2.11
        from airflow.io.store import attach  # type: ignore[no-redef]
    mem = fsspec.filesystem("memory")
    attach(protocol="memory", fs=mem)
    w = JsonLinesWriter("memory://results/out.jsonl")
    w.write(["+41790000001"], "on_whatsapp", "lk_1")
    w._sink.f.flush()
    assert mem.exists("/results/out.jsonl.part") and not mem.exists("/results/out.jsonl")
    w.close()
    assert mem.cat("/results/out.jsonl") == b'{"number":"+41790000001","status":"on_whatsapp","lookup_id":"lk_1"}\n'
    assert not mem.exists("/results/out.jsonl.part")
    w = JsonLinesWriter("memory://results/other.jsonl")
    w.write(["+41790000001"], "on_whatsapp", "lk_1")
    w.abort()
    assert not mem.exists("/results/other.jsonl") and not mem.exists("/results/other.jsonl.part")
