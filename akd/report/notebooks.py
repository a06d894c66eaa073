"""Run the analysis notebooks headless: ``nox -s analysis`` (``python -m akd.report.notebooks``).

The notebooks are jupytext percent scripts in ``analysis/`` (reviewable diffs, runnable as plain
Python). Each is converted to a notebook and executed by papermill with its parameters; the
executed copies go to ``.akd/analysis/`` (not committed), the tables and figures they write to
``<out_dir>/paper/`` and ``<out_dir>/figures/`` (``out_dir``: ``results`` unless given).

Every output lands at once or not at all: the notebooks write into a fresh temporary folder inside
``out_dir`` (``.analysis-tmp-*``), and only when every notebook has succeeded does each folder they
wrote replace its namesake in ``out_dir`` (a rename each; the folders they did not write stay as
they were). A failing notebook leaves ``out_dir`` as it was.

    python -m akd.report.notebooks                                   # the committed results
    python -m akd.report.notebooks -p source http://HOST:5000        # runs from a tracking server
    python -m akd.report.notebooks --only paper_tables -p out_dir /tmp/analysis
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from akd.provenance import REPO_ROOT

NOTEBOOKS = ("paper_tables", "paper_figures")
NOTEBOOK_DIR = REPO_ROOT / "analysis"
WORK_DIR = REPO_ROOT / ".akd" / "analysis"  # the executed copies
OUT_DIR = "results"  # the notebooks' default out_dir, relative to the repository (their working folder)
TMP_PREFIX = ".analysis-tmp-"


def run(
    names=NOTEBOOKS,
    parameters: dict | None = None,
    work_dir: Path | None = None,
    log=print,
    notebook_dir: Path | None = None,
) -> list[Path]:
    """Execute each notebook of ``notebook_dir`` (default ``analysis/``), writing where its ``out_dir`` says.

    Returns the executed copies. A failing cell raises (papermill's error); see :func:`publish`.
    """
    import jupytext
    import papermill

    work = Path(work_dir or WORK_DIR)
    work.mkdir(parents=True, exist_ok=True)
    done = []
    for name in names:
        notebook = jupytext.read(Path(notebook_dir or NOTEBOOK_DIR) / f"{name}.py")
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


def publish(
    names=NOTEBOOKS,
    parameters: dict | None = None,
    work_dir: Path | None = None,
    log=print,
    notebook_dir: Path | None = None,
) -> list[Path]:
    """:func:`run` into a temporary folder, then move every folder the notebooks wrote into ``out_dir``.

    On any failure the temporary folder is removed and ``out_dir`` is left as it was; the error is raised.
    """
    parameters = dict(parameters or {})
    out = REPO_ROOT / str(parameters.get("out_dir", OUT_DIR))  # relative: to the notebooks' working folder
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=out))  # same filesystem: renames
    try:
        executed = run(names, parameters | {"out_dir": str(tmp)}, work_dir, log, notebook_dir)
        log(f"replaced {', '.join(_move_into(tmp, out)) or 'nothing'} in {out}")
        return executed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if made and out.exists() and not any(out.iterdir()):
            out.rmdir()


def _move_into(tmp: Path, out: Path) -> list[str]:
    """Replace each entry of ``out`` named like one of ``tmp``'s by it (the old ones end up in ``tmp``)."""
    old = Path(tempfile.mkdtemp(prefix=".old-", dir=tmp))
    done: list[tuple[Path, bool]] = []
    try:
        for entry in sorted(p for p in tmp.iterdir() if p != old):
            target = out / entry.name
            had = target.exists() or target.is_symlink()
            if had:
                target.rename(old / entry.name)
            try:
                entry.rename(target)
            except OSError:
                if had:
                    (old / entry.name).rename(target)
                raise
            done.append((target, had))
    except OSError:
        for target, had in reversed(done):  # put back what was there before
            target.rename(tmp / target.name)
            if had:
                (old / target.name).rename(target)
        raise
    return [target.name for target, _ in done]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m akd.report.notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=NOTEBOOKS, default=list(NOTEBOOKS))
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="a parameter")
    args = parser.parse_args(argv)
    try:
        publish(args.only, dict(args.p))
    except Exception as exc:  # noqa: BLE001 - papermill re-raises the cell's error with its traceback
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        print(f"analysis failed, its outputs left as they were: {message}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
