"""The code blocks of the README and of ``docs/*.md``, as the tests that run them read them.

A code block is any fenced or indented block of a Markdown file (MyST directives such as ``{toctree}`` or
``{automodule}`` are not code, except ``{code-block}``, ``{code}``, ``{literalinclude}`` and ``{eval-rst}``,
which are). Each must be preceded, on the line right above it, by ``<!-- example: NAME -->``: a block without a
mark fails the tests that list them (``tests/test_readme.py``, ``tests/test_docs.py``), so a new example cannot
slip in unchecked. Blocks are parsed with markdown-it (the parser MyST-Parser, and so the docs site, uses).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

MARK_RE = re.compile(r"^<!-- example: ([\w-]+) -->\s*$")
#: MyST directives whose content is code a reader would run or copy.
CODE_DIRECTIVES = ("{code-block}", "{code}", "{sourcecode}", "{literalinclude}", "{eval-rst}")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    name: str | None  # the example mark above it, or None
    lang: str
    body: str

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


def code_blocks(path: Path) -> list[Block]:
    """Every code block of ``path``, in order, with the example mark right above it (or None)."""
    text = path.read_text()
    lines = text.splitlines()
    out = []
    for tok in MarkdownIt("commonmark").parse(text):
        if tok.type not in ("fence", "code_block") or tok.map is None:
            continue
        info = tok.info.strip()
        if info.startswith("{") and not info.startswith(CODE_DIRECTIVES):
            continue  # a directive (toctree, automodule, ...), not code
        start = tok.map[0]
        above = lines[start - 1] if start > 0 else ""
        mark = MARK_RE.match(above)
        lang = info.split()[0] if info else ""
        out.append(Block(path, start + 1, mark.group(1) if mark else None, lang, tok.content))
    return out


def named_blocks(paths: list[Path]) -> dict[str, Block]:
    """``{name: block}`` over ``paths``; fails on an unmarked block or a name used twice."""
    found: dict[str, Block] = {}
    for path in paths:
        for b in code_blocks(path):
            assert b.name is not None, f"{b.where}: a code block has no <!-- example: NAME --> mark above it"
            assert b.name not in found, f"{b.where}: example name {b.name!r} is used twice ({found[b.name].where})"
            found[b.name] = b
    return found


def shell_lines(body: str) -> list[list[str]]:
    """The block's commands (continuations joined, comments dropped), each split as the shell does."""
    joined = re.sub(r"\\\n\s*", " ", body)
    out = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            out.append(words)
    return out


def export_value(body: str, name: str = "AIRFLOW_CONN_MSGFLASH_DEFAULT") -> str:
    """The value of the block's single ``export NAME=...`` (which may span lines)."""
    (words,) = shell_lines(body.replace("'\n", "'").replace("\n  ", " "))
    assert words[0] == "export" and words[1].startswith(f"{name}="), words
    return words[1].split("=", 1)[1]
