"""Open an HTML report in Chromium (Playwright) with every request to another host blocked;
print what a test checks as JSON; screenshots when asked. Run as a child process:

    python check_report_page.py REPORT.html CHROMIUM [SCREENSHOT_DIR]
"""

import json
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    html, chromium = Path(sys.argv[1]), sys.argv[2]
    shots = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    out = {"errors": [], "outside": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: out["errors"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: out["errors"].append(str(e)))

        def route(rt):
            if rt.request.url.startswith(("file:", "data:")):
                rt.continue_()
            else:
                out["outside"].append(rt.request.url)
                rt.abort()

        page.route("**/*", route)
        page.goto(html.as_uri())
        page.wait_for_load_state("load")
        out["images"] = page.eval_on_selector_all(
            "img.plot", "els => els.map(e => ({ok: e.complete && e.naturalWidth > 0, w: e.getBoundingClientRect().width}))")
        out["drift_tables"] = page.locator("section#drift table").count()
        out["open_questions"] = page.locator(".open").count()
        if shots:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "report-top.png"))
            for sid in ("signals", "drift", "datasheet"):
                page.locator(f"section#{sid}").scroll_into_view_if_needed()
                page.locator(f"section#{sid}").screenshot(path=str(shots / f"report-{sid}.png"))
        browser.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
