"""The report's landing page (collusion.landing) and the screenshot tool (collusion.screenshot)."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from collusion import landing, screenshot

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "workflow" / "report" / "workflow.rst"


def test_seed_lists_read_as_ranges():
    assert landing.seed_range(list(range(10))) == "0–9"
    assert landing.seed_range([3, 0, 1, 2, 7, 9, 8]) == "0–3, 7–9"
    assert landing.seed_range([0, 1, 5]) == "0, 1, 5"


def test_text_is_kept_out_of_rst_markup():
    # mlp_narrow/... would end a reference at "narrow_", *a* would be emphasis
    assert landing.rst_text("mlp_narrow *a* `b`") == "mlp\\_narrow \\*a\\* \\`b\\`"


def test_config_digest_names_the_configuration():
    config = {"experiments": {"a": {"seeds": [0, 1]}}, "analysis": {"significance": 0.05}}
    same = {"analysis": {"significance": 0.05}, "experiments": {"a": {"seeds": [0, 1]}}}
    other = {"experiments": {"a": {"seeds": [0, 1, 2]}}, "analysis": {"significance": 0.05}}
    assert landing.config_digest(config) == landing.config_digest(same)  # key order is no change
    assert landing.config_digest(config) != landing.config_digest(other)


def test_the_description_has_the_place_the_landing_rule_fills_in():
    template = TEMPLATE.read_text()
    page = landing.landing_page(template, "BLOCK {{ not jinja }}")
    assert page.count("BLOCK") == 1 and landing.PLACEHOLDER not in page
    # Snakemake renders the description with Jinja: the block is kept out of it
    assert "{% raw %}\nBLOCK {{ not jinja }}\n{% endraw %}" in page
    with pytest.raises(ValueError, match="no line"):
        landing.landing_page("a description without the line", "BLOCK")


def png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as handle:
        header = handle.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


@pytest.mark.skipif(
    not any(shutil.which(name) for name in screenshot.BROWSERS),
    reason="no Chromium or Chrome on PATH (apt-get install chromium)",
)
def test_a_page_is_shot_at_the_width_a_reader_sees(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body><h1>claims</h1><script>document.title='ran'</script></body></html>"
    )
    out = screenshot.screenshot(page, tmp_path / "shot.png", width=1400, height=900, wait_ms=500)
    assert png_size(out) == (1400, 900)


def test_a_missing_page_or_browser_is_named(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no page"):
        screenshot.screenshot(tmp_path / "none.html", tmp_path / "x.png", browser="chromium")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(screenshot.NoBrowser, match="apt-get install chromium"):
        screenshot.find_browser()
