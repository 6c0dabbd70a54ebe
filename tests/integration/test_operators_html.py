"""The HTML compliance report: one self-contained file that a browser renders, chart included,
and prints (the key table's header on every page). Rendered and printed in headless Chromium
(Debian package `chromium`; `make test` installs it in CI)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zlib
from dataclasses import dataclass
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


def headless(profile: Path, *arguments: str) -> list[str]:
    return [
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
        *arguments,
    ]


def screenshot(html: Path, png: Path, profile: Path) -> None:
    command = headless(profile, f"--screenshot={png}", "--window-size=1200,900", html.resolve().as_uri())
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]


def print_to_pdf(html: Path, pdf: Path, profile: Path) -> None:
    command = headless(profile, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", html.resolve().as_uri())
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0 and pdf.exists(), done.stderr[-2000:]


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
    assert "<svg" in text and "svc-b" in text and '<span class="tag fail">fail</span>' in text

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
    for label in ("0-30 days", "90-180", "over 180"):
        assert counts[bands[label]] > 200, f"the chart's {label} band is not on the screenshot"


# --------------------------------------------------------------------------- printed


_OBJECT = re.compile(rb"(\d+) 0 obj(.*?)endobj", re.S)
_STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.S)
_HEX = re.compile(r"<([0-9A-Fa-f]+)>")


@dataclass
class PdfPage:
    width: float
    height: float
    # Each text run drawn (a Tj or TJ) and the fill colour it is drawn in (RGB, 0 to 1).
    runs: list[tuple[str, tuple[float, ...]]]

    @property
    def text(self) -> str:
        """The page's text, whitespace dropped (Chromium breaks runs at kerning and at wraps)."""
        return re.sub(r"\s+", "", "".join(text for text, _ in self.runs))


# The content stream operators read: q and Q (save, restore the colour), rg and g (fill colour),
# Tf (font), TJ and Tj (text).
_OPERATOR = re.compile(
    r"(?<![\w.])(q|Q)(?!\w)|([\d.]+) ([\d.]+) ([\d.]+) rg|(?<![\w.])([\d.]+) g(?!\w)|/(\w+)\s+[\d.]+\s+Tf"
    r"|(\[[^\]]*\])\s*TJ|<([0-9A-Fa-f]*)>\s*Tj"
)


def pdf_pages(pdf: bytes) -> list[PdfPage]:
    """The pages of a PDF as Chromium (Skia) prints it: each page's MediaBox and text runs, read
    from its content stream (FlateDecode), glyph ids (Identity-H) mapped through the font's
    ToUnicode CMap. Enough for Skia's PDFs, not a general PDF reader."""
    objects = {int(number): body for number, body in _OBJECT.findall(pdf)}

    def stream(number: int) -> bytes:
        body = objects[number]
        found = _STREAM.search(body)
        assert found, f"object {number} has no stream"
        # The stream is exactly /Length bytes: its data may itself end in a CR or LF, which a
        # pattern that drops the line break before "endstream" would cut off.
        length = re.search(rb"/Length\s+(\d+)(?!\d|\s+\d+\s+R)", body[: found.start()])
        assert length, f"object {number}'s stream has no direct /Length"
        data = body[found.start(1) : found.start(1) + int(length.group(1))]
        return zlib.decompress(data) if b"/FlateDecode" in body[: found.start()] else data

    def ref(body: bytes, key: str) -> int:
        found = re.search(rb"/" + key.encode() + rb"\s+(\d+) 0 R", body)
        assert found, f"no /{key} in {body[:200]!r}"
        return int(found.group(1))

    def to_unicode(number: int) -> dict[int, str]:
        cmap = stream(number).decode("latin-1")
        glyphs: dict[int, str] = {}
        for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
            for code, text in re.findall(r"<(\w+)>\s*<(\w+)>", block):
                glyphs[int(code, 16)] = bytes.fromhex(text).decode("utf-16-be")
        for block in re.findall(r"beginbfrange(.*?)endbfrange", cmap, re.S):
            for low, high, text in re.findall(r"<(\w+)>\s*<(\w+)>\s*<(\w+)>", block):
                first = bytes.fromhex(text).decode("utf-16-be")
                for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                    glyphs[code] = first[:-1] + chr(ord(first[-1]) + offset)
        return glyphs

    def leaves(number: int) -> list[int]:
        body = objects[number]
        if not re.search(rb"/Type\s*/Pages\b", body):
            return [number]
        kids = re.search(rb"/Kids\s*\[(.*?)\]", body, re.S)
        assert kids
        return [page for kid in re.findall(rb"(\d+) 0 R", kids.group(1)) for page in leaves(int(kid))]

    catalog = next(body for body in objects.values() if re.search(rb"/Type\s*/Catalog\b", body))
    pages = []
    for page in leaves(ref(catalog, "Pages")):
        body = objects[page]
        box = re.search(rb"/MediaBox\s*\[\s*([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)\s*\]", body)
        font_dict = re.search(rb"/Font\s*<<(.*?)>>", body, re.S)
        assert box and font_dict, f"page {page} has no MediaBox or no fonts"
        fonts = {
            name.decode(): to_unicode(ref(objects[int(number)], "ToUnicode"))
            for name, number in re.findall(rb"/(\w+)\s+(\d+) 0 R", font_dict.group(1))
        }
        font: dict[int, str] = {}
        colour: tuple[float, ...] = (0.0, 0.0, 0.0)
        saved: list[tuple[float, ...]] = []
        runs = []
        for op in _OPERATOR.finditer(stream(ref(body, "Contents")).decode("latin-1")):
            save, r, g, b, grey, name, array, single = op.groups()
            if save == "q":
                saved.append(colour)
            elif save == "Q":
                colour = saved.pop()
            elif r is not None:
                colour = (float(r), float(g), float(b))
            elif grey is not None:
                colour = (float(grey),) * 3
            elif name is not None:
                font = fonts.get(name, {})
            else:
                glyphs = bytes.fromhex("".join(_HEX.findall(array) if array else [single]))
                text = "".join(
                    font.get(int.from_bytes(glyphs[i : i + 2], "big"), "?") for i in range(0, len(glyphs), 2)
                )
                runs.append((text, colour))
        x0, y0, x1, y1 = (float(v) for v in box.groups())
        pages.append(PdfPage(x1 - x0, y1 - y0, runs))
    return pages


KEY_TABLE_HEADER = (
    "account user key status age (days) CIS AWS Foundations 2.12 Security Hub IAM.3 org policy last used scope "
    "policy next action"
)


def test_the_printed_report_repeats_the_key_tables_header_on_every_page(
    org: Org, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    # Enough keys for the key table to span pages; not tagged (read from the credential report,
    # one call) but for a few, so that every control's verdict is printed.
    users = [f"user-{i:03}" for i in range(90)]
    for user in users:
        org.create_user("payments", user, TAG if user.endswith("0") else {})
    org.age(95, ("payments",))
    html, pdf = tmp_path / "report.html", tmp_path / "report.pdf"
    code, _, err = run_cli(capsys, "report", "--html", str(html))
    assert code == 0, err

    print_to_pdf(html, pdf, tmp_path / "profile")
    pages = pdf_pages(pdf.read_bytes())
    header = re.sub(r"\s+", "", KEY_TABLE_HEADER)
    with_keys = [i for i, page in enumerate(pages) if any(user in page.text for user in users)]
    assert len(with_keys) >= 2, f"the key table is on {len(with_keys)} page(s): not enough keys to test"
    for i in with_keys:
        assert pages[i].text.count(header) == 1, f"page {i + 1} of {len(pages)} does not repeat the key table's header"
    # Every key printed once: none lost at a page break, none drawn twice.
    for user in users:
        assert sum(page.text.count(user) for page in pages) == 1, user


def test_the_printed_report_is_landscape_and_its_verdicts_are_ink(
    org: Org, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    org.create_user("payments", "svc-old", TAG)
    org.age(95, ("payments",))
    org.create_user("payments", "svc-new", TAG)
    html, pdf = tmp_path / "report.html", tmp_path / "report.pdf"
    code, _, err = run_cli(capsys, "report", "--html", str(html))
    assert code == 0, err

    print_to_pdf(html, pdf, tmp_path / "profile")
    pages = pdf_pages(pdf.read_bytes())
    # The print stylesheet's landscape page: the key table's thirteen columns stay legible.
    assert all(page.width > page.height for page in pages), [(page.width, page.height) for page in pages]
    # A browser prints no backgrounds: on screen a failing verdict is white on red, which would
    # print white on white. The print stylesheet draws it in red ink.
    verdicts = [colour for page in pages for text, colour in page.runs if text.strip() in ("fail", "pass")]
    assert verdicts, "no verdict printed"
    assert all(max(colour) < 0.85 for colour in verdicts), f"a verdict is printed in a pale ink: {verdicts}"
    fails = [colour for page in pages for text, colour in page.runs if text.strip() == "fail"]
    assert len(fails) == 2 and all(colour == hex_rgb_unit("#c62828") for colour in fails), fails


def hex_rgb_unit(colour: str) -> tuple[float, ...]:
    """A colour as the PDF writes it: each channel 0 to 1, to 4 decimals."""
    return tuple(round(channel / 255, 4) for channel in hex_rgb(colour))
