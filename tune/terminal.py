"""Terminal lines the search prints: never wider than MAX_WIDTH (no Ray import, so the dry run can use it)."""

from __future__ import annotations

import textwrap

MAX_WIDTH = 160


def clip(line: str, width: int = MAX_WIDTH) -> str:
    # ASCII dots: a byte-counting reader (mawk, some log viewers) sees the same width as a terminal
    return line if len(line) <= width else line[: width - 3] + "..."


def say(line: str, *, indent: int = 0, width: int = MAX_WIDTH) -> None:
    """Print a long line wrapped at word boundaries (continuation lines indented), each piece clipped."""
    pieces = textwrap.wrap(line, width=width, subsequent_indent=" " * indent, break_long_words=False,
                           break_on_hyphens=False) or [""]
    for piece in pieces:
        print(clip(piece, width))


def shell_lines(command: str, width: int = MAX_WIDTH - 4) -> str:
    """A shell command that still runs when pasted, wrapped with backslash-newlines to fit `width`."""
    import shlex

    lines, current = [], ""
    for word in shlex.split(command):
        piece = shlex.quote(word)
        if current and len(current) + 1 + len(piece) > width - 2:
            lines.append(current + " \\")
            current = "    " + piece
        else:
            current = f"{current} {piece}" if current else piece
    return "\n".join([*lines, current])
