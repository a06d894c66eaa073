"""Rewrite the verdicts of committed summaries from their ``runs.csv``: ``python -m akd.refresh [results]``.

A summary's verdicts are written when its benchmark ends; when the statistics change (another
interval, Holm's correction), the summaries already committed go stale. This rewrites what follows
each ``summary.md``'s table, and ``summary.csv``'s ``annealing_minus_*`` columns, from the
``runs.csv`` beside them with the functions a benchmark uses (:func:`akd.results.compare`), so a
summary and the differences table never disagree. The header and the table stay as they were.
Each file is replaced whole; ``nox -s analysis`` runs this before the notebooks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from akd.config import BenchConfig, config_from_dict
from akd.errors import AkdError
from akd.hashing import atomic_write
from akd.records_checks import read_runs, read_summary
from akd.results import budget_line, compare, method_epochs, verdict_block, with_verdicts
from akd.task_table import verdict_block as tasks_verdict_block


def _rebuilt(config: dict) -> BenchConfig:
    """The config a summary records (its comparisons, its methods' budgets), in one line if unreadable."""
    try:
        return config_from_dict(config)
    except AkdError as exc:
        raise AkdError(f"the recorded config cannot be read here: {exc}") from None


def _after_table(md: str, block: list[str]) -> str:
    lines = md.rstrip("\n").splitlines()
    rows = [i for i, line in enumerate(lines) if line.startswith("|")]
    if not rows:
        raise AkdError("summary.md has no table to keep")
    return "\n".join(lines[: rows[-1] + 1] + block) + "\n"


def refresh_folder(folder: Path) -> list[Path]:
    """Rewrite ``folder``'s summary.md verdicts (and summary.csv's columns); returns the files rewritten.

    Both texts are built before either file is written, from a ``runs.csv`` read with the data
    layer's checks (a repeated seed or a missing value is refused, not silently folded in).
    """
    md, runs = folder / "summary.md", folder / "runs.csv"
    if not (md.exists() and runs.exists()):
        return []
    record = read_summary(folder / "summary.json")
    metric, config = record.get("metrics", {}).get("reported", "acc"), record.get("config", {})
    rows = read_runs(runs, metric).to_dict("records")
    if not record:  # the table across a several-task benchmark's tasks: its tasks' configs
        tasks = list(dict.fromkeys(r["task"] for r in rows))
        configs = [read_summary(folder / t / "summary.json") for t in tasks]
        first = next((c["config"] for c in configs if "config" in c), {})
        cfg = _rebuilt(first)
        epochs, pairs = method_epochs(cfg), cfg.comparison_pairs()
        atomic_write(md, _after_table(md.read_text(), tasks_verdict_block(rows, tasks, pairs, epochs)))
        return [md]
    cfg = _rebuilt(config)
    epochs = method_epochs(cfg)
    budget = budget_line(epochs)
    pairs = compare(rows, metric, cfg.comparison_pairs())  # once, for both files
    text = _after_table(md.read_text(), verdict_block(rows, metric, budget, pairs, epochs))
    table = with_verdicts(pd.read_csv(folder / "summary.csv"), pairs, epochs)
    atomic_write(md, text)
    atomic_write(folder / "summary.csv", table.to_csv(index=False, float_format="%.4f"))
    return [md, folder / "summary.csv"]


def refresh(root: Path) -> list[Path]:
    """Every summary under ``root`` (``<benchmark>/<variant>[/<task>]``)."""
    done = []
    for md in sorted(root.glob("*/*/summary.md")) + sorted(root.glob("*/*/*/summary.md")):
        done += refresh_folder(md.parent)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m akd.refresh", description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="results", type=Path)
    args = parser.parse_args(argv)
    import akd.catalog  # noqa: F401  (the methods' specs: their settings, budgets and names)

    try:
        done = refresh(args.root)
    except (AkdError, OSError, KeyError, ValueError) as exc:
        print(f"akd.refresh: {exc}")
        return 2
    print(f"refreshed the verdicts of {sum(p.name == 'summary.md' for p in done)} summaries under {args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
