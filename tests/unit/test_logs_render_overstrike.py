"""`ansi=strip` renders a line as a terminal leaves it: `\\r`, `\\b` and erase-in-line act, every
other escape sequence is removed (`domain/logs/render.py`)."""

from __future__ import annotations

import pytest

from hourglass.domain.logs.render import render_line, strip_ansi, strip_ansi_bytes


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("progress 10%\rprogress 55%\rprogress 100%", "progress 100%"),
        ("abc\rX", "Xbc"),  # overwrites, does not erase
        ("downloading\r\x1b[Kdone", "done"),
        ("downloading\r\x1b[0Kok", "ok"),
        ("abc\x1b[2Kdef", "   def"),  # the cursor stays at column 3
        ("12345\r\x1b[1K", " 2345"),  # erased up to and including the cursor's column
        ("a\x08b", "b"),
        ("_\x08a_\x08b", "ab"),  # nroff underline
        ("x\x08\x08\x08Y", "Y"),  # never past column 0
        ("\x1b[31mred\x1b[0m\rR", "Red"),
        ("\x1b]0;title\x07ab\rc", "cb"),
        ("windows line\r", "windows line"),
        ("ab\r\x1b[K", ""),
        ("✓✓✓\r✗", "✗✓✓"),  # one column per character
        ("a\x1b[5Cb", "ab"),  # other CSI sequences are only removed
    ],
)
def test_a_line_renders_as_a_terminal_shows_it(line: str, shown: str) -> None:
    """Carriage returns, backspaces and erase-in-line leave what a terminal would show."""
    assert render_line(line) == shown
    assert strip_ansi(line) == shown


def test_only_lines_with_moves_are_rendered_and_line_ends_stay() -> None:
    """Several lines at once: each is rendered on its own, none is joined or split."""
    text = "one \x1b[1mbold\x1b[0m\nbar 1\rbar 2\n\nlast\x08T\n"
    assert strip_ansi(text) == "one bold\nbar 2\n\nlasT\n"


def test_bytes_render_the_same_and_keep_bytes_that_are_not_utf8() -> None:
    """The bytes version (a whole chunk) agrees, and passes invalid UTF-8 through."""
    text = "ok ✓\nspin |\rspin /\r\x1b[Kdone\n\x1b[32mgreen\x1b[0m\n"
    assert strip_ansi_bytes(text.encode()) == strip_ansi(text).encode()
    assert strip_ansi_bytes(b"\xff ab\rX\n") == b"X ab\n"
    assert strip_ansi_bytes(b"\xffab\n") == b"\xffab\n"
