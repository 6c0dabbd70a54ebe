"""Print the reliability figures at the end of the run."""

from __future__ import annotations

from typing import Any

from tests.reliability import summary


def pytest_terminal_summary(terminalreporter: Any) -> None:
    text = summary.lines()
    if text:
        terminalreporter.section("reliability")
        for line in text:
            terminalreporter.write_line(line)
        summary.write()
