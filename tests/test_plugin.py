"""A method from another package, declared as an ``akd.plugins`` entry point, goes everywhere a built-in does.

The throwaway package lives in a temporary folder with a ``.dist-info`` (so ``importlib.metadata``
finds its entry point, as pip would have installed it); the smoke benchmark runs with it in a fresh
process, and the method is found with its setting in the plan, MLflow, ``runs.csv``, the summaries,
the paper table and a figure. No file of the suite changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import SMOKE_SIZES, write_cifar

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent

PLUGIN = '''
"""Toy-KD: Hinton KD at a fixed temperature with a weight of its own (a plug-in of the test)."""
from dataclasses import dataclass

from akd.losses import kd_loss
from akd.methods import Objective, Stage, register_method
from akd.settings import setting


@dataclass
class ToySettings:
    weight: float = setting(0.5, low=0, high=1)


class ToyLoss(Objective):
    def __init__(self, weight):
        self.weight = weight

    def loss(self, logits, teacher_logits, labels, epoch):
        return kd_loss(logits, teacher_logits, labels, 2.0, self.weight, 1.0 - self.weight)


@register_method("toykd", settings=ToySettings, label="Toy-KD", color="#117733", marker="d", linestyle=(0, (2, 2)))
def toykd(cfg):
    return [Stage("main", "student", cfg.student_epochs, ToyLoss(cfg.toykd.weight), teacher="teacher")]
'''

REPORT = """
import sys
import akd.catalog
from akd import records
from akd.report import figures_results, tables
from akd.report.tables import Task

runs = records.runs_from_results(sys.argv[1])
long = tables.build(runs, [Task("CIFAR-10", "cifar10", runs["variant"].iloc[0], "cifar10")])
print(tables.to_markdown(long, "plug-in"))
fig = figures_results.main_result(runs, "cifar10", "cifar10")
print("FIGURE", [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()])
"""


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()


def _plugin(root: Path) -> None:
    (root / "akd_toy_plugin").mkdir(parents=True)
    (root / "akd_toy_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    info = root / "akd_toy_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: akd-toy-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[akd.plugins]\ntoykd = akd_toy_plugin\n")


def test_a_plugin_method_with_a_setting_runs_everywhere(tmp_path):
    before = _digest(ROOT / "akd"), _digest(ROOT / "baselines")
    _plugin(tmp_path / "site")
    write_cifar(tmp_path / "data", "cifar10", **SMOKE_SIZES)
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = [sys.executable, "-m", "akd.cli", "bench", "cifar10", "--profile", "smoke", "--seeds", "0", "1"]
    command += ["--data-dir", str(tmp_path / "data"), "--store-dir", str(tmp_path / "store")]
    command += ["--results-dir", str(tmp_path / "results"), "--tracking-uri", uri, "--cache-dir", str(tmp_path / "c")]
    command += ["--set", "methods=nokd,toykd", "--set", "toykd.weight=0.3", "--set", "compare=toykd"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "toykd/seed0" in done.stdout  # the plan

    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=500)
    toy = [r for r in runs if r.data.tags.get("method") == "toykd"]
    assert len(toy) == 2 and all(r.data.params["toykd.weight"] == "0.3" for r in toy)

    folder = next((tmp_path / "results" / "cifar10").iterdir())
    assert set(pd.read_csv(folder / "runs.csv")["run"]) >= {"toykd", "nokd"}
    assert json.loads((folder / "summary.json").read_text())["config"]["toykd"] == {"weight": 0.3}
    md = (folder / "summary.md").read_text()
    assert "| Toy-KD |" in md and "Toy-KD minus No-KD" in md  # its label, and the comparison it declared
    assert pd.read_csv(folder / "summary.csv").set_index("run").loc["nokd", "toykd_minus_verdict"]

    report = subprocess.run(
        [sys.executable, "-c", REPORT, str(tmp_path / "results")], env=env, capture_output=True, text=True, timeout=300
    )
    assert report.returncode == 0, report.stderr[-2000:]
    assert "| Toy-KD |" in report.stdout.split("FIGURE")[0] or "Toy-KD |" in report.stdout.split("FIGURE")[0]
    assert "Toy-KD" in report.stdout.split("FIGURE")[1]  # the figure's method labels
    assert (_digest(ROOT / "akd"), _digest(ROOT / "baselines")) == before
