"""Figures of the reliability suite, printed at the end of the pytest run (see conftest.py) and
written to build/reliability-summary.txt, so the README's figures can be reproduced and pasted."""

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
        out.append("fault matrix (phase: points x modes = cases; invariant violations; later days to converge)")
        total = Counter()
        days: Counter = Counter()
        for m in _matrix:
            spread = ", ".join(f"{d}d: {n}" for d, n in sorted(m["days"].items()))
            out.append(
                f"  {m['phase']:<16} {m['points']:>3} x {m['modes']} = {m['cases']:>4}; "
                f"violations {m['violations']}; not converged {m['not_converged']}; {spread}; {m['seconds']:.0f}s"
            )
            total.update({k: m[k] for k in ("points", "cases", "violations", "not_converged", "checks")})
            days.update(m["days"])
        out.append(
            f"  total            {total['points']:>3} points x {_matrix[0]['modes']} modes = {total['cases']} cases; "
            f"{total['checks']} invariant checks; violations {total['violations']}; "
            f"not converged {total['not_converged']}; converged on day "
            + ", ".join(f"+{d}: {n}" for d, n in sorted(days.items()))
        )
    if _cases:
        out.append("other reliability cases: " + ", ".join(f"{area} {n}" for area, n in sorted(_cases.items())))
    return out


def write() -> None:
    text = lines()
    if text:
        OUTPUT.parent.mkdir(exist_ok=True)
        OUTPUT.write_text("\n".join(text) + "\n")
