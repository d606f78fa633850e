"""Progress of the long commands: bars on a terminal, plain periodic lines elsewhere."""

from __future__ import annotations

import io

from memio.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_on_a_terminal():
    stream = io.StringIO()
    with Progress("export", totals={"facts": 3}, stream=stream, every=0) as progress:
        progress.advance("facts")
        progress.advance("facts", 2)
        progress.advance("messages")
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("export: facts 1/3 (")
    assert lines[-1].startswith("export: facts 3/3, messages 1 (")
    assert all("items/s" in line for line in lines)


def test_no_line_before_the_interval_but_one_at_the_end():
    stream = io.StringIO()
    with Progress("import", stream=stream, every=3600) as progress:
        for _ in range(100):
            progress.advance("facts")
    [line] = stream.getvalue().splitlines()
    assert line.startswith("import: facts 100 (")


def test_a_bar_per_kind_on_a_terminal():
    stream = Terminal()
    with Progress("migrate", totals={"facts": 2}, stream=stream) as progress:
        progress.advance("facts", 2)
        progress.advance("documents")
    shown = stream.getvalue()
    assert "migrate facts" in shown and "2/2" in shown
    assert "migrate documents" in shown
    assert "items/s" not in shown  # the bars, not the plain lines
