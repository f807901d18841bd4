"""The HTML report in a real browser (Debian's Chromium, Playwright), opened from a file:// URL
with every request to another host blocked: no console error, every figure decoded and drawn.
DATAMILL_SCREENSHOTS=1 refreshes docs/screenshots/report-*.png."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datamill.catalog import Catalog
from datamill.report.build import build_report
from report_helpers import hashing_embed, make_run

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1800)]
REPO = Path(__file__).resolve().parents[3]
CHECK = Path(__file__).with_name("check_report_page.py")


def _screens_dir():
    flag = os.environ.get("DATAMILL_SCREENSHOTS")
    if not flag:
        return None
    return REPO / "docs" / "screenshots" if flag == "1" else Path(flag)


def test_report_renders_offline_without_errors(tmp_path, report_chromium):
    _, _, out = make_run(tmp_path)
    _, _, out2 = make_run(tmp_path, name="other", n=150, seed=5, start=1000)
    cat = Catalog(str(tmp_path / "cat"))
    cat.add("web", str(out))
    cat.add("web", str(out2))
    html = tmp_path / "report.html"
    r = build_report("catalog://web@1", str(html), compare="catalog://web@0", catalog_root=str(tmp_path / "cat"),
                     embed_fn=hashing_embed)
    shots = _screens_dir()
    cmd = [sys.executable, str(CHECK), str(html), report_chromium]
    res = subprocess.run(cmd + ([str(shots)] if shots else []), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    seen = json.loads(res.stdout.strip().splitlines()[-1])
    images = seen["images"]
    assert len(images) == r["figures"] and r["figures"] >= 10
    assert all(i["ok"] and i["w"] > 50 for i in images), images
    assert seen["errors"] == [] and seen["outside"] == []
    assert seen["drift_tables"] >= 2 and seen["open_questions"] >= 5
