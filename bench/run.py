"""`make bench`: rekey against a naive per-user scan at several organization sizes, on moto's
in-process emulator. Prints the tables and writes them to bench/results.md.

    python -m bench.run            the sizes in the README (several minutes)
    python -m bench.run --quick    smaller sizes, about a minute
    python -m bench.run --sizes 2x10 --throttled 2x10 --out /tmp/r.md   any sizes

Each size runs in a process of its own (fresh emulator state, memory measured from a clean start).
Times are reported as ratios: the machine is shared, so seconds alone say little."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rekey.runtime import ACCOUNT_CACHE_SIZE

from . import cost

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"
RAW = ROOT / "bench" / "out" / "results.json"  # every figure, per operation (not committed)
COMMAND = "make bench"

FULL_SIZES = ("10x50", "100x50", "1000x50", "1x5000")
QUICK_SIZES = ("40x50", "100x50", "1x1000")  # two sizes past the client cache
FULL_THROTTLED, QUICK_THROTTLED = "100x50", "20x50"
# Days of the steady-state account (bench.steady): a year, or one cycle and 20 days.
FULL_STEADY_DAYS, QUICK_STEADY_DAYS = 365, 130
STEADY_RATIO = 80  # the target: the steady-state sweep against the naive scan, IAM/STS calls
MAX_IMPORTS_PER_USER_MONTH = 2  # issue 33: a user's finding imported on change, refreshed within 30 days
# Users of the account where every tagged user is due at once (bench.due_account, simulated time
# at 10 calls/s with 20% throttled): 5,000 takes 1.5 h here, so `make bench` plays 300 (--due N).
FULL_DUE, QUICK_DUE = 300, 0
SAMPLE = 10  # the naive scan and the rotation wave run in this many accounts (0: every account)


def _size(text: str) -> tuple[int, int]:
    accounts, _, users = text.lower().partition("x")
    return int(accounts), int(users)


def _child(args: list[str]) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its result comes back as JSON in a file."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL" and not k.startswith("REKEY_")}
        subprocess.run([sys.executable, "-m", "bench.run", *args, "--json-out", str(out)], check=True, env=env)
        return json.loads(out.read_text())


# --------------------------------------------------------------------------- formatting


def _x(value: float) -> str:
    return f"{value:,.0f}×" if value >= 10 else f"{value:.1f}×"


def _n(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1 or value == 0:
        return f"{value:,.1f}".rstrip("0").rstrip(".")
    return f"{value:.2g}"


def _org(r: dict[str, Any]) -> str:
    return f"{r['accounts']:,} × {r['users']:,}"


def _sample_note(r: dict[str, Any]) -> str:
    return f" ({r['sampled_accounts']} of {r['accounts']:,} accounts)" if r["sampled_accounts"] < r["accounts"] else ""


def _commit() -> str:
    """The commit measured (BENCH_COMMIT, or git's HEAD with a note if the tree has changes)."""
    if os.environ.get("BENCH_COMMIT"):
        return f" at commit {os.environ['BENCH_COMMIT'][:12]}"
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f" at commit {head.stdout.strip()[:12]}{' plus uncommitted changes' if dirty.stdout.strip() else ''}"


def _per_account_seconds(phase: dict[str, Any], accounts: int, key: str = "seconds") -> float:
    return phase[key] / accounts


def tables(
    results: list[dict[str, Any]],
    throttled: dict[str, Any] | None,
    steady: dict[str, Any] | None,
    due_account: dict[str, Any] | None = None,
) -> str:
    lines: list[str] = []
    add = lines.append

    add("**Finding what is due** — rekey's sweep against the naive scan, same organization, same run.")
    add("")
    add(
        "| organization (accounts × users) | keys due | rekey calls / account | naive calls / account "
        "| fewer calls | rekey IAM+STS calls, busiest account (budget) | rekey per-user calls "
        "| calls / tagged user, rekey · naive | time per account, naive ÷ rekey: wall · CPU "
        "| peak memory MB, rekey · naive |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        nv = r["naive"]
        approx = "≈" if nv["estimated"] else ""
        naive_tagged = r["tagged_per_account"] * r["sampled_accounts"]
        for phase in ("quiet", "quiet_off", "wave"):
            rk = {"quiet": r["quiet_rekey"], "quiet_off": r.get("quiet_findings_off"), "wave": r["wave_sweep"]}[phase]
            if rk is None:
                continue
            accounts = r["sampled_accounts"] if phase == "wave" else r["accounts"]
            budget = "" if phase == "wave" else f" ({math.ceil(r['users'] / 1000) + 6})"
            labels = {"quiet": "none", "quiet_off": "none, findings off"}
            due = labels.get(phase, f"{r['due_per_account']:,} per account")
            wall = _per_account_seconds(nv, r["sampled_accounts"]) / _per_account_seconds(rk, accounts)
            cpu = _per_account_seconds(nv, r["sampled_accounts"], "cpu_seconds") / _per_account_seconds(
                rk, accounts, "cpu_seconds"
            )
            add(
                f"| {_org(r)}{_sample_note(r) if phase == 'wave' else ''} | {due} | {_n(rk['per_account'])} "
                f"| {approx}{_n(nv['per_account'])} | {approx}{_x(nv['per_account'] / rk['per_account'])} "
                f"| {rk['iam_sts_max_per_account']}{budget} | {rk['per_user_calls']:,} "
                f"| {_n(rk['total'] / (r['tagged_per_account'] * accounts))} · "
                f"{approx}{_n(nv['total'] / naive_tagged)} "
                f"| {approx}{_x(wall)} · {_x(cpu)} | {rk['peak_mb']:.0f} · {nv['peak_mb']:.0f} |"
            )
    add("")
    add("**The rotation wave's work** — the production worker handler over the work queue.")
    add("")
    add(
        "| organization | rotations | worker calls / rotation | sweep + worker calls / rotation "
        "| worker time ÷ time inside its AWS calls | worker peak memory MB |"
    )
    add("|---|---|---|---|---|---|")
    for r in results:
        w, s = r["wave_worker"], r["wave_sweep"]
        done = max(w["done"], 1)
        add(
            f"| {_org(r)}{_sample_note(r)} | {w['done']:,} | {_n(w['total'] / done)} "
            f"| {_n((s['total'] + w['total']) / done)} | {w['overhead_ratio']:.2f} | {w['peak_mb']:.0f} |"
        )
    if throttled:
        t, p = throttled["throttled"], throttled["plain"]
        add("")
        add(
            f"**Throttling** — a token bucket of {throttled['rate']:g} calls/s (burst {throttled['burst']:g}) in "
            f"every account, and {throttled['share']:.0%} of the calls it lets through throttled anyway "
            "(HTTP 400 `Throttling`, as IAM answers); rekey's sweep with nothing due."
        )
        add("")
        add(
            "| organization | throttled responses / HTTP attempts | accounts missed | accounts scanned "
            "| time, throttled ÷ not |"
        )
        add("|---|---|---|---|---|")
        add(
            f"| {throttled['accounts']:,} × {throttled['users']:,} "
            f"| {t['throttled_responses']:,} / {t['http_attempts']:,} | {len(t['accounts_failed'])} "
            f"| {t['accounts_in_scope']} of {throttled['accounts']} "
            f"| {t['seconds'] / p['seconds']:.1f}× ({t['seconds']:.0f} s against {p['seconds']:.0f} s) |"
        )
    if due_account:
        d = due_account
        add("")
        add(
            f"**One account, every tagged user due at once** — {d['users']:,} users, production's Lambda path "
            f"in simulated time, {d['rate']:g} calls/s per service and {d['share']:.0%} throttled anyway."
        )
        add("")
        add(
            "| scan parts (longest) | worker invocations (longest) | calls | throttled / attempts "
            "| rotated | failed, dead-lettered | simulated day |"
        )
        add("|---|---|---|---|---|---|---|")
        add(
            f"| {d['scan_invocations']} ({d['scan_longest_seconds']:.0f} s) "
            f"| {d['worker_invocations']} ({d['worker_longest_seconds']:.0f} s) | {d['calls']:,} "
            f"| {d['throttled_responses']:,} / {d['http_attempts']:,} | {d['rotations']:,} "
            f"| {d['scan_failures'] + d['work_failures']}, {d['dead_lettered']} "
            f"| {_duration(d['simulated_seconds'])} |"
        )
    if steady:
        st = steady
        add("")
        add(
            f"**The steady state** — one account of {st['users']} users, {st['tagged']} tagged, their keys' ages "
            f"spread over the whole cycle, swept daily for {st['days']} days (sweep, then the worker); "
            f"days {st['steady_from']}–{st['days']}, when every stage of the cycle happens every day."
        )
        add("")
        add(
            "| sweep IAM+STS calls / day (least–most) | naive IAM+STS calls / day | fewer calls "
            "| sweep per-user reads / day | sweep calls / day, all services | worker calls / day | rotations "
            "| finding imports / tagged user / month |"
        )
        add("|---|---|---|---|---|---|---|---|")
        add(
            f"| {_n(st['sweep_iam_sts_per_day'])} ({st['sweep_iam_sts_least']}–{st['sweep_iam_sts_most']}) "
            f"| {_n(st['naive_iam_sts_per_day'])} | {_x(st['naive_iam_sts_per_day'] / st['sweep_iam_sts_per_day'])} "
            f"| {_n(st['per_user_reads_per_day'])} | {_n(st['sweep_calls_per_day'])} "
            f"| {_n(st['worker_calls_per_day'])} | {st['rotations']:,} "
            f"| {st['finding_imports_per_user_month']:.2f} |"
        )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def targets(
    results: list[dict[str, Any]],
    throttled: dict[str, Any] | None,
    steady: dict[str, Any] | None = None,
    due: dict[str, Any] | None = None,
) -> list[tuple[str, bool, str]]:
    """The issue's targets, checked against this run."""
    out: list[tuple[str, bool, str]] = []
    ratios = [r["naive"]["per_account"] / r["quiet_rekey"]["per_account"] for r in results]
    off = [
        r["naive"]["per_account"] / r["quiet_findings_off"]["per_account"] for r in results if "quiet_findings_off" in r
    ]
    out.append(
        (
            "≥ 20× fewer calls than the naive scan, no-action sweep, default settings",
            min(ratios) >= 20,
            f"least {min(ratios):.0f}×" + (f" (findings off: least {min(off):.0f}×)" if off else ""),
        )
    )
    within = all(
        r["quiet_rekey"]["iam_sts_max_per_account"] <= math.ceil(r["users"] / 1000) + 6
        and r["quiet_rekey"]["per_user_calls"] == 0
        and not r["quiet_rekey"]["accounts_failed"]
        for r in results
    )
    out.append(("no-action sweep within ⌈U/1000⌉ + 6 IAM/STS calls per account, none per user", within, ""))
    worst = max(r["wave_worker"]["overhead_ratio"] for r in results)
    complete = all(
        r["wave_worker"]["done"] == r["wave_users_with_two_keys"] == r["due_per_account"] * r["sampled_accounts"]
        for r in results
    )
    out.append(("the wave rotated every due key, and only those", complete, ""))
    out.append(("worker wall time ≤ 1.5× the time inside its AWS calls", worst <= 1.5, f"worst {worst:.2f}×"))
    multi = sorted((r for r in results if r["users"] == results[0]["users"]), key=lambda r: r["accounts"])
    if len(multi) >= 2 and multi[-1]["accounts"] > multi[-2]["accounts"]:
        # Growth between the two largest sizes, both past the ACCOUNT_CACHE_SIZE accounts whose
        # clients rekey keeps: what does one more account leave behind? Judged on what a sweep
        # leaves allocated (tracemalloc, garbage collected); the peak resident set also holds
        # garbage the cyclic collector has not reached yet, in a proportion of the whole heap,
        # which here includes the emulator's organization.
        middle, big = multi[-2], multi[-1]
        past_cache = middle["accounts"] > ACCOUNT_CACHE_SIZE
        growth = big["quiet_rekey"]["retained_kb"] - middle["quiet_rekey"]["retained_kb"]
        per_account_kb = growth / (big["accounts"] - middle["accounts"])
        kept = " / ".join(f"{r['quiet_rekey']['retained_kb'] / 1024:.1f}" for r in multi)
        peaks = " / ".join(f"{r['quiet_rekey']['peak_mb']:.0f}" for r in multi)
        counts = " / ".join(f"{r['accounts']:,}" for r in multi)
        out.append(
            (
                f"memory flat in the number of accounts past the {ACCOUNT_CACHE_SIZE} cached (no-action sweep; "
                "< 50 KB kept per added account)",
                past_cache and per_account_kb < 50,
                f"kept {kept} MB (peak resident {peaks} MB) at {counts} accounts: {per_account_kb:.1f} KB per "
                f"account from {middle['accounts']:,} to {big['accounts']:,}"
                + ("" if past_cache else f"; {middle['accounts']} accounts is not past the cache: not judged"),
            )
        )
    if steady:
        ratio = steady["naive_iam_sts_per_day"] / steady["sweep_iam_sts_per_day"]
        out.append(
            (
                f"steady state: ≥ {STEADY_RATIO}× fewer IAM/STS calls than the naive scan "
                f"({steady['users']} users, {steady['tagged']} tagged)",
                ratio >= STEADY_RATIO,
                f"{ratio:.0f}× ({steady['sweep_iam_sts_per_day']:.1f} against "
                f"{steady['naive_iam_sts_per_day']:,} a day)",
            )
        )
    if steady and "finding_imports_per_user_month" in steady:
        monthly = steady["finding_imports_per_user_month"]
        out.append(
            (
                f"steady state: ≤ {MAX_IMPORTS_PER_USER_MONTH} Security Hub finding imports per tagged user a month",
                monthly <= MAX_IMPORTS_PER_USER_MONTH,
                f"{monthly:.2f}",
            )
        )
    if due:
        whole = due["rotations"] == due["users_with_two_keys"] == due["users"]
        clean = not (due["scan_failures"] or due["work_failures"] or due["dead_lettered"] or due["over_timeout"])
        out.append(
            (
                f"every one of {due['users']:,} due users in one account rotated within the day, at "
                f"{due['rate']:g} calls/s with {due['share']:.0%} throttled: none failed, dead-lettered or timed out",
                whole and clean and due["simulated_seconds"] < 24 * 3600,
                f"{due['rotations']:,} rotated in {_duration(due['simulated_seconds'])} simulated",
            )
        )
    if throttled:
        t = throttled["throttled"]
        ok = not t["accounts_failed"] and t["accounts_in_scope"] == throttled["accounts"]
        out.append((f"throttled sweep of {throttled['accounts']} accounts misses none", ok, f"{t['seconds']:.0f} s"))
    return out


def report(
    results: list[dict[str, Any]],
    throttled: dict[str, Any] | None,
    steady: dict[str, Any] | None,
    due: dict[str, Any] | None,
    command: str,
    elapsed: float,
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    commit = _commit()
    machine = f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    lines = [
        "# rekey benchmark results",
        "",
        f"Made by `{command}` on {when}{commit} ({machine}, load average {load}; whole run {elapsed / 60:.1f} min).",
        "AWS is moto's in-process emulator (`mock_aws`), with AWS's paging of ListUsers and",
        "GetAccountAuthorizationDetails, and its access-key-to-account lookup indexed (bench/paging.py);",
        "one user in five is tagged `rekey:rotate=true`, every user has one",
        "access key. rekey runs with its default settings (Security Hub findings on; the first day, when every",
        "finding is new, is not measured); a quiet sweep with `REKEY_SECURITY_HUB_FINDINGS=false` is shown",
        "beside it, labelled. The naive scan (bench/naive.py) is ListUsers, then ListUserTags + ListAccessKeys",
        "per user and GetAccessKeyLastUsed per key. Calls include sts:AssumeRole; rekey's also include its SQS,",
        "SNS and Security Hub calls. rekey's waits (its pace of 8 calls/s per account and service, the credential",
        "report's) go to the bench's clock and are counted, never slept. Memory is the peak a phase needed",
        "above what the process held when it began.",
        "",
        tables(results, throttled, steady, due),
        "",
        "**Targets**",
        "",
    ]
    for name, ok, detail in targets(results, throttled, steady, due):
        lines.append(f"- {'met' if ok else 'MISSED'}: {name}{f' — {detail}' if detail else ''}")
    lines += [
        "",
        "A tag-first variant of the naive scan (keys read only for tagged users; counted in the same run) "
        "would make "
        + ", ".join(
            f"{r['naive']['tag_first_total'] / r['sampled_accounts']:,.0f} calls/account at {_org(r)} "
            f"({r['naive']['tag_first_total'] / r['sampled_accounts'] / r['quiet_rekey']['per_account']:.0f}× "
            "rekey's)"
            for r in results
        )
        + ".",
    ]
    if steady and "calls_per_day_by_service" in steady:
        # The model's fixed part: the quiet sweep of the largest organization of 50-user accounts.
        fifty = [r for r in results if r["users"] == 50] or results
        basis = max(fifty, key=lambda r: r["accounts"])
        lines += ["", cost.table(cost.Usage.measured(basis["quiet_rekey"], basis["accounts"], steady))]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- entry point


def _measured(what: str, child_args: list[str]) -> dict[str, Any]:
    """One measurement in a process of its own (_child), its time said on stderr."""
    print(f"measuring {what} ...", file=sys.stderr, end=" ", flush=True)
    began = time.perf_counter()
    result = _child(child_args)
    print(f"{time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"sizes {', '.join(QUICK_SIZES)}; throttled 20x50")
    parser.add_argument("--sizes", help="comma-separated ACCOUNTSxUSERS, e.g. 10x50,1x5000")
    parser.add_argument("--throttled", help="ACCOUNTSxUSERS for the throttled sweep ('none' to skip)")
    parser.add_argument(
        "--sample", type=int, default=SAMPLE, help=f"accounts for the naive scan and the wave (default {SAMPLE})"
    )
    parser.add_argument(
        "--full", action="store_true", help="no sampling: naive scan and wave in every account, every user (hours)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the markdown results")
    parser.add_argument("--raw", type=Path, default=RAW, help="where to write every figure as JSON")
    # one measurement in this process (used by the orchestrator)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--measure-throttled", help=argparse.SUPPRESS)
    parser.add_argument("--measure-steady", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--measure-due", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--due",
        type=int,
        help=f"users of the all-due account (default {FULL_DUE}, --quick {QUICK_DUE}; 5000 takes 1.5 h; 0 to skip)",
    )
    parser.add_argument(
        "--steady",
        type=int,
        help=f"days of the steady-state account (default {FULL_STEADY_DAYS}, --quick {QUICK_STEADY_DAYS}; 0 to skip)",
    )
    parser.add_argument("--json-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.measure or args.measure_throttled or args.measure_steady or args.measure_due:
        from .measure import measure, measure_due_account, measure_throttled
        from .steady import measure_steady

        if args.measure:
            result = measure(*_size(args.measure), sample=args.sample or None)
        elif args.measure_steady:
            result = measure_steady(days=args.measure_steady)
        elif args.measure_due:
            result = measure_due_account(args.measure_due, rate=10, share=0.2)
        else:
            result = measure_throttled(*_size(args.measure_throttled), rate=10, burst=10, share=0.2)
        args.json_out.write_text(json.dumps(result))
        return 0

    sizes = args.sizes.split(",") if args.sizes else list(QUICK_SIZES if args.quick else FULL_SIZES)
    throttled_size = args.throttled or (QUICK_THROTTLED if args.quick else FULL_THROTTLED)
    started = time.perf_counter()
    results = []
    for size in sizes:
        results.append(_measured(size, ["--measure", size, "--sample", "0" if args.full else str(args.sample)]))
    throttled = None
    if throttled_size != "none":
        throttled = _measured(f"{throttled_size} throttled", ["--measure-throttled", throttled_size])
    steady = None
    days = args.steady if args.steady is not None else (QUICK_STEADY_DAYS if args.quick else FULL_STEADY_DAYS)
    if days:
        steady = _measured(f"the steady state, {days} days", ["--measure-steady", str(days)])
    due = None
    due_users = args.due if args.due is not None else (QUICK_DUE if args.quick else FULL_DUE)
    if due_users:
        due = _measured(f"one account of {due_users:,} due users", ["--measure-due", str(due_users)])
    command = (
        COMMAND
        if not (args.quick or args.sizes or args.throttled or args.steady is not None or args.due is not None)
        else "python -m bench.run " + " ".join(sys.argv[1:] if argv is None else argv)
    )
    text = report(results, throttled, steady, due, command, time.perf_counter() - started)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.raw.parent.mkdir(parents=True, exist_ok=True)
    raw = {"sizes": results, "throttled": throttled, "steady": steady, "due": due}
    args.raw.write_text(json.dumps(raw, indent=1))
    return 0 if all(ok for _, ok, _ in targets(results, throttled, steady, due)) else 1


if __name__ == "__main__":
    sys.exit(main())
