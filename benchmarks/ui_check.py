"""Look at MLflow's runs page as a new user would, in headless Chromium (a manual check, not a test).

Opens a benchmark's runs link (the one `akd ui` prints), groups the runs by the `method` tag and
saves a screenshot. Needs Debian's chromium and `pip install playwright` (not project dependencies):

    .venv/bin/akd ui --port 5055 &
    python benchmarks/ui_check.py "http://127.0.0.1:5055/#/experiments/1/runs?workflowType=machine_learning" out.png
"""

from __future__ import annotations

import sys

from playwright.sync_api import sync_playwright


def main(url: str, out: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(url)
        page.wait_for_timeout(6000)
        page.get_by_role("button", name="Group by").click()
        page.wait_for_timeout(1000)
        items = page.locator("[role=menuitem], [role=option], [role=menuitemcheckbox]")
        items.nth(items.all_inner_texts().index("method")).click()  # the tag (tags are listed before params)
        page.wait_for_timeout(2500)
        page.keyboard.press("Escape")
        page.screenshot(path=out)
        groups = [line for line in page.locator("body").inner_text().splitlines() if line.startswith("Group: ")]
        print(f"{page.url}\ngroups: {groups}\nscreenshot: {out}")
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
