"""The eight GLUE tasks of the paper, from a local folder in the classic GLUE TSV layout or the hub.

``--data-dir DIR`` (default ``data``) is searched for the classic layout that GLUE's own download
script writes (``DIR/SST-2/train.tsv``, ``DIR/SST-2/dev.tsv``, ...; also ``DIR/glue_data/...``).
When the folder is not there, the task is read from the hub's ``nyu-mll/glue`` (Parquet; needs
internet once, then ``datasets``' cache). GLUE's test labels are hidden, so the dev set is the
reported test split and the validation split is held out of the training set. MNLI is reported on
dev-matched (``test_acc``) and dev-mismatched (``test_mm_acc``). STS-B is a regression (one output,
MSE); its checkpoints are selected on (Pearson + Spearman) / 2 as in the official code, and Pearson
is reported.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import torch

from akd.config import BenchConfig
from akd.errors import AkdError
from akd.registry import TASKS, TEXT_MODELS
from akd.tasks.base import TaskSpec
from akd.tasks.text import TextSource, TextSpec, TextTask, load_text_task

NLI = ("entailment", "not_entailment")


@dataclass(frozen=True)
class GlueTask:
    spec: TextSpec
    folder: str  # the classic layout's folder name
    test_file: str = "dev.tsv"
    extra_files: tuple[tuple[str, str], ...] = ()  # further reported splits: (name, file)
    hub_extra: tuple[tuple[str, str], ...] = ()  # the same on the hub: (name, hub split)
    # the unlabelled test splits the GLUE server scores: (split, file, hub split, server file name)
    server: tuple[tuple[str, str, str, str], ...] = ()
    column_names: tuple[str, ...] = ()  # for a file without a header line (CoLA)
    hub_columns: tuple[tuple[str, str], ...] = ()  # hub column -> the TSV's column name


GLUE: dict[str, GlueTask] = {
    "cola": GlueTask(
        TextSpec("cola", ("sentence",), "label", 2, ("mcc", "acc"), "mcc"),
        "CoLA",
        column_names=("source", "label", "original_label", "sentence"),
    ),
    "sst2": GlueTask(TextSpec("sst2", ("sentence",), "label", 2), "SST-2"),
    "mrpc": GlueTask(
        TextSpec("mrpc", ("#1 String", "#2 String"), "Quality", 2, ("f1", "acc"), "f1"),
        "MRPC",
        hub_columns=(("sentence1", "#1 String"), ("sentence2", "#2 String"), ("label", "Quality")),
    ),
    "stsb": GlueTask(
        TextSpec("stsb", ("sentence1", "sentence2"), "score", 1, ("pearson", "spearman", "corr"), "corr", "pearson"),
        "STS-B",
        hub_columns=(("label", "score"),),
    ),
    "qqp": GlueTask(
        TextSpec("qqp", ("question1", "question2"), "is_duplicate", 2, ("acc", "f1")),
        "QQP",
        hub_columns=(("label", "is_duplicate"),),
    ),
    "mnli": GlueTask(
        TextSpec(
            "mnli", ("sentence1", "sentence2"), "gold_label", 3, label_names=("entailment", "neutral", "contradiction")
        ),
        "MNLI",
        test_file="dev_matched.tsv",
        extra_files=(("test_mm", "dev_mismatched.tsv"),),
        hub_extra=(("test_mm", "validation_mismatched"),),
        server=(
            ("server_m", "test_matched.tsv", "test_matched", "MNLI-m.tsv"),
            ("server_mm", "test_mismatched.tsv", "test_mismatched", "MNLI-mm.tsv"),
        ),
        hub_columns=(("premise", "sentence1"), ("hypothesis", "sentence2"), ("label", "gold_label")),
    ),
    "qnli": GlueTask(TextSpec("qnli", ("question", "sentence"), "label", 2, label_names=NLI), "QNLI"),
    "rte": GlueTask(TextSpec("rte", ("sentence1", "sentence2"), "label", 2, label_names=NLI), "RTE"),
}
HUB_TEST_SPLIT = {"mnli": "validation_matched"}


def server_files(task: GlueTask) -> tuple[tuple[str, str, str, str], ...]:
    return task.server or (("server", "test.tsv", "test", f"{task.folder}.tsv"),)


def glue_folder(data_dir: str, task: GlueTask) -> Path | None:
    root = Path(data_dir).expanduser()
    for folder in (root / task.folder, root / "glue_data" / task.folder):
        if (folder / "train.tsv").is_file() and (folder / task.test_file).is_file():
            return folder
    return None


def glue_source(name: str, data_dir: str) -> TextSource:
    task = GLUE[name]
    folder = glue_folder(data_dir, task)
    if folder is None:
        hub_columns = dict(task.hub_columns)
        if task.spec.label_names:  # the hub's labels are already indices
            hub_columns["label"] = "label_index"
        hub = ("nyu-mll/glue", name, HUB_TEST_SPLIT.get(name, "validation"))
        unlabelled = {split: (hub_split, out) for split, _, hub_split, out in server_files(task)}
        return TextSource(hub=hub, hub_columns=hub_columns, hub_extra=dict(task.hub_extra), unlabelled=unlabelled)
    options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE, "keep_default_na": False}
    if task.column_names:
        options |= {"header": None, "names": list(task.column_names)}
    files = {"train": str(folder / "train.tsv"), "test": str(folder / task.test_file)}
    files |= {split: str(folder / file) for split, file in task.extra_files if (folder / file).is_file()}
    unlabelled = {split: (str(folder / file), out) for split, file, _, out in server_files(task)}
    return TextSource(data_files=files, csv_options=options, unlabelled=unlabelled)


def _load(name: str):  # noqa: ANN202
    def load(cfg: BenchConfig, device: torch.device) -> TextTask:
        source = glue_source(name, cfg.data.data_dir)
        spec = GLUE[name].spec
        if source.hub:
            spec = _hub_spec(spec)
            try:
                return load_text_task(cfg, spec, source, device)
            except (ConnectionError, OSError) as exc:
                raise AkdError(
                    f"GLUE {name} is not in {cfg.data.data_dir} (classic layout: {GLUE[name].folder}/train.tsv) and "
                    f"the hub download failed ({type(exc).__name__}); pass --data-dir DIR holding GLUE's TSV folders"
                ) from None
        return load_text_task(cfg, spec, source, device)

    return load


def _hub_spec(spec: TextSpec) -> TextSpec:
    """On the hub, labels are indices in a column renamed to ``label_index``."""
    if not spec.label_names:
        return spec
    return TextSpec(spec.name, spec.texts, "label_index", spec.num_labels, spec.metrics, spec.selection, spec.report)


def check_text_models(cfg: BenchConfig) -> None:
    if not 1 <= cfg.data.max_length <= 4096:
        raise AkdError(f"data.max_length must be in 1..4096 tokens, got {cfg.data.max_length}")


for _name in GLUE:
    TASKS.add(f"glue-{_name}", TaskSpec(load=_load(_name), check=check_text_models))

# The paper's two ladders (teacher -> TA -> student), as presets of their hub ids.
LADDERS = {
    "roberta-large": "FacebookAI/roberta-large",
    "roberta-base": "FacebookAI/roberta-base",
    "distilroberta": "distilbert/distilroberta-base",
    "bert-large": "google-bert/bert-large-uncased",
    "bert-base": "google-bert/bert-base-uncased",
    "bert-small": "google/bert_uncased_L-4_H-512_A-8",  # BERT-Small: 4 layers x 512 (Turc et al., 2019)
}
for _preset, _hub_id in LADDERS.items():
    TEXT_MODELS.add(_preset, lambda hub_id=_hub_id: hub_id)
