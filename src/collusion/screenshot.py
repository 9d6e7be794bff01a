"""Screenshots of an HTML page (the report, the claims page) as a reader's browser shows it:
headless Chromium at a given window size, 1,400 × 1,000 pixels unless told.

    python -m collusion.screenshot results/report.html report.png
    python -m collusion.screenshot results/paper/claims.html claims.png --height 2000

``measure`` says where the same window lays out chosen elements (a test reads it: the claims'
verdicts within 1,400 pixels).

Needs a Chromium or Chrome on PATH (Debian: ``apt-get install chromium``). JavaScript runs (the
Snakemake report builds its page with it) for ``--wait`` milliseconds of virtual time first.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# headless, as root, on a machine without a display or network access to Google's services
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


class NoBrowser(RuntimeError):
    pass


def find_browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise NoBrowser(
        f"no headless browser found (looked for {', '.join(BROWSERS)} on PATH); install one, "
        "e.g. `apt-get install chromium` on Debian"
    )


def screenshot(
    page: str | Path,
    out: str | Path,
    width: int = 1400,
    height: int = 1000,
    wait_ms: int = 5000,
    browser: str | None = None,
) -> Path:
    """Save a PNG of ``page`` (a local HTML file) as a ``width`` × ``height`` window shows it."""
    page, out = Path(page).resolve(), Path(out).resolve()
    if not page.is_file():
        raise FileNotFoundError(f"no page {page} to take a screenshot of")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        command = [
            browser or find_browser(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={wait_ms}",
            f"--screenshot={out}",
            page.as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if not out.exists():
        raise RuntimeError(f"the browser wrote no screenshot of {page}:\n{result.stderr[-2000:]}")
    return out


MEASURE = """<script>window.addEventListener('load', () => {
  const boxes = [...document.querySelectorAll(SELECTOR)].map(e => e.getBoundingClientRect());
  const out = document.createElement('pre');
  out.id = 'measured';
  out.textContent = JSON.stringify({
    scroll_width: document.documentElement.scrollWidth,
    boxes: boxes.map(b => [b.left, b.top, b.right, b.bottom]),
  });
  document.body.appendChild(out);
});</script>"""


def measure(
    page: str | Path,
    selector: str,
    width: int = 1400,
    height: int = 1000,
    browser: str | None = None,
) -> dict:
    """Where a browser window of ``width`` × ``height`` lays out ``page``: the document's scroll
    width and the boxes [left, top, right, bottom] (pixels) of the elements ``selector`` picks."""
    page = Path(page).resolve()
    if not page.is_file():
        raise FileNotFoundError(f"no page {page} to measure")
    script = MEASURE.replace("SELECTOR", json.dumps(selector))
    with tempfile.TemporaryDirectory() as profile:
        copy = Path(profile) / "measured.html"
        copy.write_text(page.read_text().replace("</body>", script + "</body>", 1))
        command = [
            browser or find_browser(),
            *FLAGS,
            f"--user-data-dir={profile}/user",
            f"--window-size={width},{height}",
            "--virtual-time-budget=2000",
            "--dump-dom",
            copy.as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="measured">(.*?)</pre>', result.stdout, re.S)
    if not found:
        raise RuntimeError(f"the browser measured nothing on {page}:\n{result.stderr[-2000:]}")
    return json.loads(html.unescape(found.group(1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m collusion.screenshot", description=__doc__.splitlines()[0]
    )
    parser.add_argument("page", help="the HTML file")
    parser.add_argument("out", help="the PNG to write")
    parser.add_argument("--width", type=int, default=1400, help="window width, pixels (1400)")
    parser.add_argument("--height", type=int, default=1000, help="window height, pixels (1000)")
    parser.add_argument("--wait", type=int, default=5000, help="ms of JavaScript first (5000)")
    args = parser.parse_args(argv)
    try:
        out = screenshot(args.page, args.out, args.width, args.height, args.wait)
    except (NoBrowser, FileNotFoundError, RuntimeError) as error:
        print(error, file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
