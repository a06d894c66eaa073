"""Run the analysis notebooks headless: ``nox -s analysis`` (``python -m akd.report.notebooks``).

The notebooks are jupytext percent scripts in ``analysis/`` (reviewable diffs, runnable as plain
Python). Each is converted to a notebook and executed by papermill with its parameters; the
executed copies go to ``.akd/analysis/`` (not committed), the tables and figures they write to
``<out_dir>/paper/`` and ``<out_dir>/figures/``.

    python -m akd.report.notebooks                                   # the committed results
    python -m akd.report.notebooks -p source http://HOST:5000        # runs from a tracking server
    python -m akd.report.notebooks --only paper_tables -p out_dir /tmp/analysis
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from akd.provenance import REPO_ROOT

NOTEBOOKS = ("paper_tables", "paper_figures")


def run(names=NOTEBOOKS, parameters: dict | None = None, work_dir: Path | None = None, log=print) -> list[Path]:
    """Execute each notebook; returns the executed copies. A failing cell raises (papermill's error)."""
    import jupytext
    import papermill

    work = work_dir or REPO_ROOT / ".akd" / "analysis"
    work.mkdir(parents=True, exist_ok=True)
    done = []
    for name in names:
        notebook = jupytext.read(REPO_ROOT / "analysis" / f"{name}.py")
        notebook.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
        source, executed = work / f"{name}.ipynb", work / f"{name}.executed.ipynb"
        jupytext.write(notebook, source)
        log(f"running analysis/{name}.py -> {executed}")
        papermill.execute_notebook(
            str(source),
            str(executed),
            parameters=parameters or {},
            cwd=str(REPO_ROOT),
            kernel_name="python3",
            progress_bar=False,
        )
        done.append(executed)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m akd.report.notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=NOTEBOOKS, default=list(NOTEBOOKS))
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="a parameter")
    args = parser.parse_args(argv)
    try:
        run(args.only, dict(args.p))
    except Exception as exc:  # noqa: BLE001 - papermill re-raises the cell's error with its traceback
        print(f"analysis failed: {str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
