"""Run some of the fault matrix's cases in another process, with its own emulator.

The emulator and the code under test share one Python process (and so one core); the matrix
deals its cases out to one such process per spare core. Usage (by test_fault_matrix.py):
    python -m tests.reliability.shard REQUEST.json RESULTS.json
REQUEST: {"phase": name, "cases": [[path, service, operation, nth, step, mode], ...]}."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from rekey_dev import emulator as em

from tests.conftest import build_org


def main(request_file: str, results_file: str) -> int:
    from tests.reliability.phases import PHASES
    from tests.reliability.test_fault_matrix import Point, run_case

    request = json.loads(Path(request_file).read_text())
    phase = next(p for p in PHASES if p.name == request["phase"])
    emulator = em.start()
    try:
        org = build_org(emulator, os.environ.__setitem__)
        results = []
        for path, service, operation, nth, step, mode in request["cases"]:
            result = run_case(org, phase, Point(path, service, operation, nth, step), mode)[0]
            results.append({**asdict(result), "point": [path, service, operation, nth, step]})
    finally:
        emulator.stop()
    Path(results_file).write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
