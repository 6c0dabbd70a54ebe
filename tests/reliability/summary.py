"""Figures of the reliability suite, printed in a "reliability" section at the end of the pytest
run and written to build/reliability-summary.txt, so docs/reliability.md's figures can be
reproduced and pasted.

A pytest plugin (tests/conftest.py registers it): under pytest-xdist the tests record their
figures in the worker processes, which hand them to the controller in `workeroutput`; only the
controller (or a run without xdist) prints and writes them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

OUTPUT = Path(__file__).resolve().parents[2] / "build" / "reliability-summary.txt"
WORKER_OUTPUT_KEY = "reliability-summary"

_matrix: list[dict[str, Any]] = []
_cases: Counter = Counter()  # other reliability tests: area -> cases checked


def record_matrix(phase: str, points: Sequence[Any], results: Sequence[Any], seconds: float) -> None:
    _matrix.append(
        {
            "phase": phase,
            "points": len(points),
            "modes": Counter(r.mode for r in results),
            "cases": len(results),
            "violations": sum(len(r.violations) for r in results),
            "not_converged": sum(1 for r in results if r.days is None),
            "days": Counter(r.days for r in results if r.days is not None),
            "checks": sum(r.checks for r in results),
            "late": sum(r.late for r in results),
            "seconds": seconds,
        }
    )


def record_cases(area: str, n: int = 1) -> None:
    _cases[area] += n


def lines() -> list[str]:
    if not _matrix and not _cases:
        return []
    out = []
    if _matrix:
        out.append("fault matrix: every call of each path x fault modes; invariant violations; days to converge")
        total: Counter = Counter()
        modes: Counter = Counter()
        days: Counter = Counter()
        for m in _matrix:
            spread = ", ".join(f"+{d}d: {n}" for d, n in sorted(m["days"].items()))
            per_mode = ", ".join(f"{mode} {n}" for mode, n in m["modes"].items())
            out.append(
                f"  {m['phase']:<22} {m['points']:>3} points, {m['cases']:>3} cases ({per_mode}); "
                f"violations {m['violations']}; not converged {m['not_converged']}; {spread}; "
                f"announced late {m['late']}; {m['seconds']:.0f} s"
            )
            keys = ("points", "cases", "violations", "not_converged", "checks", "late")
            total.update({k: m.get(k, 0) for k in keys})
            modes.update(m["modes"])
            days.update(m["days"])
        out.append(
            f"  {'total':<22} {total['points']:>3} points, {total['cases']:>3} cases "
            f"({', '.join(f'{mode} {n}' for mode, n in modes.items())}); {total['checks']} invariant checks; "
            f"violations {total['violations']}; not converged {total['not_converged']}; converged "
            + ", ".join(f"+{d}d: {n}" for d, n in sorted(days.items()))
            + f"; every fault-free day's action announced, {total['late']} of them late"
        )
    if _cases:
        out.append("other reliability cases: " + ", ".join(f"{area} {n}" for area, n in sorted(_cases.items())))
    return out


def write() -> None:
    text = lines()
    if text:
        OUTPUT.parent.mkdir(exist_ok=True)
        OUTPUT.write_text("\n".join(text) + "\n")


# ----------------------------------------------------------------- from xdist's workers


def exported() -> dict[str, Any]:
    """This process's figures in plain types (execnet sends no Counter)."""
    return {
        "matrix": [{**m, "modes": dict(m["modes"]), "days": dict(m["days"])} for m in _matrix],
        "cases": dict(_cases),
    }


def merge(figures: dict[str, Any]) -> None:
    """Add a worker's `exported()` figures to this process's."""
    from tests.reliability.phases import PHASES  # only once there are figures: it imports rekey

    _matrix.extend({**m, "modes": Counter(m["modes"]), "days": Counter(m["days"])} for m in figures["matrix"])
    _cases.update(figures["cases"])
    # In the phases' order, as a run without xdist prints them, whichever worker finished first.
    order = [p.name for p in PHASES]
    _matrix.sort(key=lambda m: order.index(m["phase"]))


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[WORKER_OUTPUT_KEY] = exported()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    figures = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
    if figures:
        merge(figures)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # a worker: the controller prints the figures of all of them
    text = lines()
    if text:
        terminalreporter.section("reliability")
        for line in text:
            terminalreporter.write_line(line)
        write()
