"""The report as a browser shows it: headless Chromium loads it offline, without console errors, and draws it.

CI installs the browser with `apt-get install -y chromium` (Debian); elsewhere the test is skipped.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_report import BASE_SECTIONS, make_search

from tune import report

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium)"),
]
# Page messages reach stderr as "...:INFO:CONSOLE:12] "message", source: file:///... (12)"
CONSOLE = re.compile(r":CONSOLE[:(]|Uncaught|Failed to load resource")


def chromium(user_data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={user_data}", "--enable-logging=stderr", "--v=0",
        # nothing leaves the machine while the test runs (remote references are caught in test_report.py)
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=180)


def page_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if CONSOLE.search(line)]


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    exp = make_search(tmp_path / "exp", ensemble=True)
    html = tmp_path / "report.html"
    assert report.main(["--experiment", str(exp), "--output", str(html)]) == 0
    url = html.resolve().as_uri()

    dom = chromium(tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert page_errors(dom.stderr) == []
    ids = set(re.findall(r'<section id="([^"]+)"', dom.stdout))
    assert ids == {*BASE_SECTIONS, "ensemble"}, ids
    assert dom.stdout.count("<svg") >= 7

    png = tmp_path / "report.png"
    shot = chromium(tmp_path / "profile-shot", f"--screenshot={png}", "--window-size=1280,4000",
                    "--hide-scrollbars", url)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert page_errors(shot.stderr) == []
    from PIL import Image  # matplotlib's own dependency

    with Image.open(png) as image:
        assert image.size == (1280, 4000)
        gray = np.asarray(image.convert("L"))
    drawn = (gray < 200).any(axis=1)  # rows holding text, lines or figure marks
    assert drawn.mean() > 0.3, "the screenshot is mostly blank: the page did not render"
    assert (gray < 200).any(axis=0).sum() > 800, "content only in a narrow column"


def test_console_errors_are_detected(tmp_path: Path) -> None:
    """The check above would see a broken page: guards the log format against Chromium changes."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><p>x</p><script>missing_function();</script></body></html>")
    result = chromium(tmp_path / "profile", "--dump-dom", page.resolve().as_uri())
    assert result.returncode == 0
    assert any("missing_function" in line for line in page_errors(result.stderr)), result.stderr[-2000:]
