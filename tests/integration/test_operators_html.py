"""The HTML compliance report: one self-contained file that a browser renders, chart included.
Rendered in headless Chromium (Debian package `chromium`; `make test` installs it in CI)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from rekey_cli.render_html import AGE_BANDS

from tests.conftest import Org
from tests.operators import TAG, run_cli
from tests.png import colour_counts, read_png


def chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        return binary
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed in CI: `make test` should have installed it (tools/ensure-chromium.sh)")
    pytest.skip("chromium is not installed (apt-get install chromium, or `make browser` as root): not rendered")


def screenshot(html: Path, png: Path, profile: Path) -> None:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--screenshot={png}",
        "--window-size=1200,900",
        html.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_html_report_is_self_contained_and_renders_with_its_chart(
    org: Org, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    for account, user, days in (("payments", "svc-a", 10), ("analytics", "svc-b", 95), ("sandbox", "svc-c", 200)):
        org.create_user(account, user, TAG)
        org.age(days, (account,))
    org.create_user("payments", "human", {})
    html = tmp_path / "report.html"
    code, out, err = run_cli(capsys, "report", "--html", str(html))
    assert code == 0, err
    assert f"HTML report written to {html}" in out

    text = html.read_text()
    # One file: no script, stylesheet link, external image, font or URL of any kind.
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(|https?://(?!www\.w3\.org/2000/svg)", text)
    assert "<svg" in text and "svc-b" in text and "over 90 days" in text

    png = tmp_path / "report.png"
    screenshot(html, png, tmp_path / "profile")
    image = read_png(png.read_bytes())
    assert (image.width, image.height) == (1200, 900)
    counts = colour_counts(image)
    total = sum(counts.values())
    painted = sum(n for colour, n in counts.items() if min(colour) < 235)
    assert painted / total > 0.04, f"only {painted} of {total} sampled pixels are not white"
    # The chart's bars are drawn: one band per account's key age (10, 95 and 200 days).
    bands = {label: hex_rgb(colour) for _upper, label, colour in AGE_BANDS}
    for label in ("0-30 days", "91-180", "over 180"):
        assert counts[bands[label]] > 200, f"the chart's {label} band is not on the screenshot"
