"""Render a report page in headless Chromium and read back what the browser saw."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

#: Appended to a copy of the page: what the browser made of every image, as JSON in the DOM.
_PROBE = """<script>
window.addEventListener("load", () => {
  const seen = [...document.images].map(i => ({complete: i.complete, w: i.naturalWidth,
    h: i.naturalHeight, shownW: i.getBoundingClientRect().width, alt: i.alt}));
  const pre = document.createElement("pre"); pre.id = "probe";
  pre.textContent = JSON.stringify({images: seen, title: document.title});
  document.body.appendChild(pre);
});
</script>"""


def chromium() -> str:
    """The Chromium binary; a skip outside CI when there is none (`.ci/run` installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("CI: no chromium on PATH (.ci/run installs Debian's chromium)")
    pytest.skip("no chromium on PATH: `apt-get install chromium` (.ci/run does)")


def _flags(profile: Path) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        # No network at all: a page that needed a CDN would show nothing.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
    ]


def render(page: Path, work: Path) -> dict:
    """{"images": [{complete, w, h, shownW, alt}], "title": ...} as Chromium rendered `page`,
    offline, plus "screenshot": the path of a PNG of the page's first screen."""
    exe = chromium()
    probe = work / "probe.html"
    probe.write_text(page.read_text().replace("</body>", _PROBE + "</body>"))
    out = subprocess.run(
        [exe, *_flags(work / "profile-dom"), "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', out.stdout, re.S)
    assert found, f"chromium rendered no probe (rc {out.returncode}): {out.stderr[-2000:]}"
    seen = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    shot = work / "screen.png"
    subprocess.run(
        [
            exe,
            *_flags(work / "profile-shot"),
            "--window-size=1200,2400",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    seen["screenshot"] = shot
    return seen


def colored_fraction(png: Path) -> float:
    """Share of pixels of a PNG that are neither white nor grey (plots draw in colour)."""
    from matplotlib.image import imread

    img = imread(png)[..., :3]
    spread = img.max(axis=-1) - img.min(axis=-1)
    return float((spread > 0.15).mean())
