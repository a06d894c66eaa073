"""Look at MLflow's runs page as a new user would, in headless Chromium (a manual check, not a test).

Opens a benchmark's runs link (the one `akd ui` prints), closes the assistant panel, shows the
metric columns asked for (default: the test accuracy and the agreement with the teacher), groups
the runs by the `method` tag and saves a screenshot. Needs Debian's chromium and
`pip install playwright` (not project dependencies):

    .venv/bin/akd ui --port 5055 &
    python benchmarks/ui_check.py "http://127.0.0.1:5055/#/experiments/1/runs?workflowType=machine_learning" out.png
"""

from __future__ import annotations

import argparse

from playwright.sync_api import sync_playwright


def show_columns(page, names: list[str]) -> None:  # noqa: ANN001
    """Tick each metric in the runs table's column chooser (searched by name)."""
    page.get_by_role("button", name="Columns").click()
    page.wait_for_timeout(1000)
    for name in names:
        page.get_by_placeholder("Search columns").fill(name)
        page.wait_for_timeout(800)
        hits = page.get_by_text(name, exact=True)  # the highlighted match inside each row that contains the name
        rows = [hits.nth(i) for i in range(hits.count())]
        exact = [h for h in rows if h.evaluate("e => e.closest('div[class]').innerText.trim()") == name]
        (exact or rows)[0].click()
        page.wait_for_timeout(800)
    page.keyboard.press("Escape")


def main(url: str, out: str, metrics: list[str]) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1150})
        page.goto(url)
        page.wait_for_timeout(6000)
        close = page.locator("button[aria-label*='close' i]")
        if close.count():  # MLflow 3's assistant panel takes a third of the page
            close.first.click()
            page.wait_for_timeout(1000)
        show_columns(page, metrics)
        page.get_by_role("button", name="Group by").click()
        page.wait_for_timeout(1000)
        items = page.locator("[role=menuitem], [role=option], [role=menuitemcheckbox]")
        items.nth(items.all_inner_texts().index("method")).click()  # the tag (tags are listed before params)
        page.wait_for_timeout(2500)
        page.keyboard.press("Escape")
        page.wait_for_timeout(1000)
        page.screenshot(path=out)
        groups = [line for line in page.locator("body").inner_text().splitlines() if line.startswith("Group: ")]
        print(f"{page.url}\ngroups: {groups}\nscreenshot: {out}")
        browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--metrics", nargs="+", default=["test_acc", "test_agreement"])
    args = parser.parse_args()
    main(args.url, args.out, args.metrics)
