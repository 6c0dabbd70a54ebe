"""Figures of the reliability suite, printed at the end of the pytest run (see conftest.py) and
written to build/reliability-summary.txt, so docs/reliability.md's figures can be reproduced and pasted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parents[2] / "build" / "reliability-summary.txt"

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
                f"  {m['phase']:<16} {m['points']:>3} points, {m['cases']:>3} cases ({per_mode}); "
                f"violations {m['violations']}; not converged {m['not_converged']}; {spread}; {m['seconds']:.0f} s"
            )
            total.update({k: m[k] for k in ("points", "cases", "violations", "not_converged", "checks")})
            modes.update(m["modes"])
            days.update(m["days"])
        out.append(
            f"  total            {total['points']:>3} points, {total['cases']:>3} cases "
            f"({', '.join(f'{mode} {n}' for mode, n in modes.items())}); {total['checks']} invariant checks; "
            f"violations {total['violations']}; not converged {total['not_converged']}; converged "
            + ", ".join(f"+{d}d: {n}" for d, n in sorted(days.items()))
        )
    if _cases:
        out.append("other reliability cases: " + ", ".join(f"{area} {n}" for area, n in sorted(_cases.items())))
    return out


def write() -> None:
    text = lines()
    if text:
        OUTPUT.parent.mkdir(exist_ok=True)
        OUTPUT.write_text("\n".join(text) + "\n")
