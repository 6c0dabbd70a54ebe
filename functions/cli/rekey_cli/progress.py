"""A long command's progress on stderr, for a person watching a terminal; nothing for a pipe,
a file or a test, whose stderr stays as it was."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TextIO

# Carriage return, then erase to the end of the line (ANSI): the next text takes the line over.
CLEAR_LINE = "\r\x1b[K"


class Progress:
    """`label n/N`, rewritten in place as a use case reports each account done; the line is
    erased when the command moves on, so output and error lines start on a clean line."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self._label = label
        self._stream = stream or sys.stderr
        self._shown = self._stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self._shown:
            self._stream.write(f"{CLEAR_LINE}{self._label} {done}/{total}")
            self._stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._shown:
            self._stream.write(CLEAR_LINE)
            self._stream.flush()
