"""GLUE on the same engine, offline: GLUE-layout TSV fixtures and a tiny BERT written by the tests.

The whole path runs through ``akd bench glue``: read the files through ``datasets``, tokenise,
fine-tune the teacher, the four methods, metrics, MLflow runs and the summary. Teacher outputs are
computed once per task (no augmentation) and counted.
"""

from __future__ import annotations

import csv

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from akd.benchfile import load_benchmark
from akd.cli import main
from akd.fixtures import write_glue, write_tiny_bert
from akd.stats import fmt_signed
from akd.tasks.base import load_task

pytestmark = pytest.mark.slow
N_TRAIN, N_DEV = 240, 60  # 216 train / 24 validation after the 10 % hold-out


@pytest.fixture(scope="module")
def glue(tmp_path_factory):
    root = tmp_path_factory.mktemp("glue")
    write_glue(root / "data", N_TRAIN, N_DEV)
    write_tiny_bert(root / "bert", layers=2)
    return root


def _models(root) -> list[str]:
    bert = root / "bert"
    return ["--set", f"teacher={bert}", "--set", f"ta={bert}#layers=1", "--set", f"student={bert}#layers=1"]


def _bench(root, task: str, *extra: str) -> None:
    args = ["bench", "glue", "--profile", "smoke", "--data-dir", str(root / "data"), "--set", f"data.dataset={task}"]
    args += [*_models(root), "--store-dir", str(root / "store"), "--results-dir", str(root / "results")]
    args += ["--cache-dir", str(root / "cache"), "--tracking-uri", f"sqlite:///{root / 'mlflow.db'}", *extra]
    assert main(args) == 0


def _children(root, task: str) -> tuple[MlflowClient, object, dict]:
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("akd-glue")
    runs = client.search_runs([exp.experiment_id], max_results=1000, order_by=["attributes.start_time DESC"])
    parent = next(r for r in runs if r.data.tags.get("kind") == "benchmark" and task in r.data.tags["data_folder"])
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    return client, parent, children


def _task(root, name: str, **data):
    overrides = {"data": {"dataset": name, "data_dir": str(root / "data"), **data}, "student": str(root / "bert")}
    return load_task(load_benchmark("glue", "smoke", overrides))


def test_single_sentence_task_end_to_end_with_one_teacher_pass(glue):
    _bench(glue, "glue-sst2")
    client, parent, runs = _children(glue, "SST-2")
    expected = {"teacher"} | {f"{m}/seed{s}" for m in ("nokd", "kd", "takd", "annealing", "ta") for s in (0, 1)}
    assert set(runs) == expected and all(r.info.status == "FINISHED" for r in runs.values())
    # the teacher was fine-tuned by the suite (AdamW, linear decay to 0 per step: the last epoch's rate is lower)
    teacher = runs["teacher"]
    assert teacher.data.tags["trained"] == "true"
    lrs = [m.value for m in client.get_metric_history(teacher.info.run_id, "lr")]
    assert lrs[0] == pytest.approx(5e-3) and 0 < lrs[1] < lrs[0]
    # one teacher pass over the 216 training sentences serves both seeds and every method
    m = parent.data.metrics
    assert m["teacher_epochs_computed"] == 1 and m["teacher_forward_images"] == 216
    assert m["teacher_epochs_cached"] == 5  # KD, TA and Annealing-KD phase 1, 2 seeds: 6 reads, 1 pass
    assert m["ta_epochs_computed"] == 2  # one pass per seed's TA
    ann = runs["annealing/seed0"].data.metrics
    assert {"test_acc", "test_acc_last", "val_acc_best", "phase1.test_acc", "phase2.test_acc"} <= set(ann)
    table = pd.read_csv(glue / "results" / "glue" / next((glue / "results" / "glue").iterdir()).name / "summary.csv")
    assert table["run"].tolist() == ["teacher", "ta", "nokd", "kd", "takd", "annealing"]


def test_pair_task_with_string_labels_and_no_cache(glue):
    _bench(glue, "glue-rte", "--no-cache", "--seeds", "0", "--methods", "kd", "annealing")
    _, parent, runs = _children(glue, "RTE")
    # without a cache each source makes its own single pass, never one per epoch
    assert parent.data.metrics["teacher_epochs_computed"] == 2
    assert runs["kd/seed0"].data.metrics["teacher_forward_images"] == 216
    task = _task(glue, "glue-rte")
    with open(glue / "data" / "RTE" / "dev.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    labels = [["entailment", "not_entailment"].index(r["label"]) for r in rows]
    assert task.splits["test"].labels.tolist() == labels
    ids = task.splits["test"].tensors["token_type_ids"][0]
    assert ids.max() == 1  # two segments: the pair was tokenised as a pair


def test_regression_task_one_output_and_correlation_metrics(glue):
    _bench(glue, "glue-stsb", "--seeds", "0", "--methods", "nokd", "kd", "annealing")
    _, _, runs = _children(glue, "STS-B")
    metrics = runs["annealing/seed0"].data.metrics
    assert {"test_pearson", "test_spearman", "test_corr", "val_corr_best"} <= set(metrics)
    assert metrics["test_corr"] == pytest.approx((metrics["test_pearson"] + metrics["test_spearman"]) / 2)
    task = _task(glue, "glue-stsb")
    assert task.regression and task.selection_metric == "corr" and task.report_metric == "pearson"
    assert task.splits["train"].labels.dtype == torch.float32
    model = task.build_model(str(glue / "bert"))
    inputs, labels = next(task.eval_batches("test", 8))
    assert model(inputs).shape == (8, 1) and labels.shape == (8,)
    (folder,) = [p for p in (glue / "results" / "glue").iterdir() if "pearson" in (p / "summary.md").read_text()]
    assert "| test pearson (selected) |" in (folder / "summary.md").read_text()


def test_text_batches_are_pure_in_seed_and_epoch_and_cut_to_the_longest(glue):
    task = _task(glue, "glue-sst2")
    first = list(task.train_batches(3, 1, 16))
    again = list(task.train_batches(3, 1, 16))
    other = next(task.train_batches(3, 2, 16))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0][0], other[0])
    assert sorted(torch.cat([idx for idx, _, _ in first]).tolist()) == list(range(task.size("train")))
    idx, inputs, _ = first[0]
    assert inputs["input_ids"].shape[1] == int(task.splits["train"].lengths[idx].max())
    assert inputs["attention_mask"][:, -1].any()  # no all-padding column
    # the validation split is held out of the training file, the dev file is the test split
    assert task.size("train") + task.size("val") == N_TRAIN and task.size("test") == N_DEV


def test_headerless_cola_and_missing_columns(glue, tmp_path):
    task = _task(glue, "glue-cola")
    with open(glue / "data" / "CoLA" / "dev.tsv") as f:
        labels = [int(line.split("\t")[1]) for line in f]
    assert task.splits["test"].labels.tolist() == labels
    assert task.selection_metric == "mcc"
    (tmp_path / "SST-2").mkdir()
    for name in ("train.tsv", "dev.tsv"):
        (tmp_path / "SST-2" / name).write_text("text\tlabel\ngood film\t1\nbad film\t0\n")
    from akd.errors import AkdError

    cfg = load_benchmark("glue", "smoke", {"data": {"dataset": "glue-sst2", "data_dir": str(tmp_path)}})
    cfg.student = str(glue / "bert")
    with pytest.raises(AkdError, match="has no column sentence; it has text, label"):
        load_task(cfg)


def test_several_tasks_make_one_table_with_paired_seed_differences(glue):
    _bench(glue, "glue-sst2", "--tasks", "glue-sst2", "glue-rte", "--methods", "nokd", "annealing", "--label", "two")
    folder = glue / "results" / "glue" / "smoke-two"
    assert (folder / "glue-sst2" / "summary.md").is_file() and (folder / "glue-rte" / "summary.md").is_file()
    runs = pd.read_csv(folder / "runs.csv")
    table = pd.read_csv(folder / "summary.csv").set_index("run")
    for task in ("glue-sst2", "glue-rte"):
        per_task = pd.read_csv(folder / task / "runs.csv")
        assert table.loc["annealing", f"{task}_mean"] == pytest.approx(
            per_task[per_task["run"] == "annealing"]["test_acc"].mean(), abs=1e-3
        )
        # the paper's DistilRoBERTa numbers stand beside each task (SST-2 92.5 / 93.11, RTE 67.9 / 73.64)
    assert table.loc["nokd", "glue-sst2_paper"] == 92.5 and table.loc["annealing", "glue-rte_paper"] == 73.64
    means = [table.loc["nokd", f"{t}_mean"] for t in ("glue-sst2", "glue-rte")]
    assert table.loc["nokd", "score"] == pytest.approx(sum(means) / 2, abs=1e-3)
    text = (folder / "summary.md").read_text()
    rte = runs[runs["task"] == "glue-rte"].set_index(["run", "seed"])["test_acc"]
    diffs = [rte[("annealing", s)] - rte[("nokd", s)] for s in (0, 1)]
    line = f"- glue-rte: Annealing-KD minus No-KD: {fmt_signed(sum(diffs) / 2)} points ["
    assert line in text and f"seeds: {fmt_signed(diffs[0])}, {fmt_signed(diffs[1])})" in text
    assert "| run | model | glue-sst2 (acc) | glue-rte (acc) | score |" in text


def test_movie_sentences_become_two_glue_layout_tasks(tmp_path):
    from akd.tasks.movies import prepare

    raw = tmp_path / "glue_mini" / "raw"
    raw.mkdir(parents=True)
    scores = [2.3, -0.6, 0.2, -3.1, 1.0, -0.4, 0.9, -2.0, 3.5, 0.0, -1.2, 2.8]
    lines = [f"{i + 1}\t{v}\tsentence number {i} ''quoted''" for i, v in enumerate(scores)]
    (raw / "movieReviewSnippets_GroundTruth.txt").write_bytes("\r\n".join(lines).encode())
    base = prepare(tmp_path, log=lambda *_: None)
    sst, score = _rows(base / "MOVIES-SST2"), _rows(base / "MOVIES-SCORE")
    assert len(score) == 12 and len(_lines(base / "MOVIES-SCORE" / "dev.tsv")) == 1  # a tenth held out
    kept = {f"sentence number {i} ''quoted''": int(v > 0) for i, v in enumerate(scores) if abs(v) >= 0.5}
    assert {s: int(y) for s, y in sst} == kept  # |score| < 0.5 dropped, label = score > 0
    assert sorted(float(v) for _, v in score) == sorted(scores)


def _lines(path) -> list[str]:
    return path.read_text().splitlines()[1:]


def _rows(folder) -> list[list[str]]:
    return [line.split("\t") for split in ("train", "dev") for line in _lines(folder / f"{split}.tsv")]


def test_movie_files_are_shuffled_so_subsets_are_random_samples(tmp_path):
    from akd.tasks.movies import prepare

    raw = tmp_path / "glue_mini" / "raw"
    raw.mkdir(parents=True)
    scores = [2.0] * 50 + [-2.0] * 50  # the source lists positives first
    lines = [f"{i + 1}\t{v}\tsnippet {i}" for i, v in enumerate(scores)]
    (raw / "movieReviewSnippets_GroundTruth.txt").write_text("\n".join(lines))
    labels = [line.split("\t")[1] for line in _lines(prepare(tmp_path) / "MOVIES-SST2" / "train.tsv")]
    assert 10 <= labels[:30].count("1") <= 20  # the first 30 lines are a mixture, not 30 positives


def test_a_named_teacher_can_be_used_as_it_is(glue):
    """teacher_epochs = 0: a fine-tuned teacher is evaluated and distilled from, never trained."""
    _bench(glue, "glue-mrpc", "--set", "teacher_epochs=0", "--methods", "kd", "--seeds", "0")
    client, _, runs = _children(glue, "MRPC")
    teacher = runs["teacher"]
    assert client.get_metric_history(teacher.info.run_id, "train_loss") == []
    assert {"test_f1", "test_acc", "val_f1_best"} <= set(teacher.data.metrics)
    assert runs["kd/seed0"].data.metrics["teacher_forward_images"] == 216


def test_mnli_reports_matched_and_mismatched(glue):
    _bench(glue, "glue-mnli", "--methods", "nokd", "--seeds", "0")
    _, _, runs = _children(glue, "MNLI")
    metrics = runs["nokd/seed0"].data.metrics
    assert {"test_acc", "test_mm_acc"} <= set(metrics)
    task = _task(glue, "glue-mnli")
    assert task.num_outputs == 3 and task.extra_test_splits == ("test_mm",) and task.size("test_mm") == N_DEV
    assert set(task.splits["test"].labels.tolist()) <= {0, 1, 2}


def test_glue_server_submission_files_on_request(glue, tmp_path, capsys):
    _bench(glue, "glue-sst2", "--glue-submission", "--methods", "kd", "--seeds", "0", "--label", "sub")
    lines = (glue / "results" / "glue" / "smoke-sub" / "submission" / "kd-seed0" / "SST-2.tsv").read_text().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 1 + N_DEV
    assert [line.split("\t")[0] for line in lines[1:]] == [str(i) for i in range(N_DEV)]
    assert {line.split("\t")[1] for line in lines[1:]} <= {"0", "1"}
    # an image task has no server files: refused before anything runs
    from tests.conftest import SMOKE_SIZES, write_cifar

    write_cifar(tmp_path, "cifar10", **SMOKE_SIZES)
    args = ["bench", "cifar10", "--profile", "smoke", "--data-dir", str(tmp_path), "--glue-submission", "--dry-run"]
    assert main([*args, "--results-dir", str(tmp_path / "results"), "--store-dir", str(tmp_path / "store")]) == 2
    assert "has no unlabelled test split" in capsys.readouterr().err


def test_model_names_presets_and_truncation():
    from akd.errors import AkdError
    from akd.text_models import build_text_model, resolve

    assert resolve("bert-small") == ("google/bert_uncased_L-4_H-512_A-8", {})
    assert resolve("roberta-large#layers=12") == ("FacebookAI/roberta-large", {"num_hidden_layers": 12})
    from akd.registry import TEXT_MODELS

    assert TEXT_MODELS.get("minilm-l2")() == "minilm-l6#layers=2"  # resolving it needs the MiniLM package
    with pytest.raises(AkdError, match="cannot load model 'no/such-model'"):
        build_text_model("no/such-model", 2)  # offline here: one line, no traceback


def test_truncated_model_keeps_the_first_layers(glue):
    from akd.text_models import build_text_model

    full, cut = build_text_model(str(glue / "bert"), 2), build_text_model(f"{glue / 'bert'}#layers=1", 2)
    assert full.hf.config.num_hidden_layers == 2 and cut.hf.config.num_hidden_layers == 1
    first = "hf.bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(full.state_dict()[first], cut.state_dict()[first])
    assert "hf.bert.encoder.layer.1.attention.self.query.weight" not in cut.state_dict()


def test_paired_differences_are_annealing_minus_the_other_method_per_seed():
    from akd.results import compare

    rows = [
        {"run": run, "seed": seed, "task": "t", "metric": "acc", "test_acc": value}
        for run, seed, value in [("annealing", 0, 80.0), ("kd", 0, 78.5), ("annealing", 1, 70.0), ("kd", 1, 72.0)]
    ]
    rows.append({"run": "annealing", "seed": 2, "task": "t", "metric": "acc", "test_acc": 99.0})  # no kd partner
    kd = compare(rows, "acc", [("annealing", "kd")])[("annealing", "kd")]
    assert kd.seeds == (0, 1) and kd.diffs == (1.5, -2.0)


def test_a_resumed_text_stage_is_bit_identical_with_dropout(glue):
    """Dropout draws from torch's random stream: a resumed stage must restore it (the checkpoint
    holds it), or its later epochs drop other units."""
    from akd.bench import init_model
    from akd.engine import StageJob, train_stage
    from akd.methods import HardLabels, Stage
    from akd.runtime import Runtime

    cfg = load_benchmark("glue", "smoke", {"data": {"dataset": "glue-sst2", "data_dir": str(glue / "data")}})
    cfg.student = str(glue / "bert") + "#layers=1"
    task = load_task(cfg)
    rt = Runtime(torch.device("cpu"))
    stage = Stage("s", "student", 3, HardLabels())
    whole = train_stage(StageJob(stage, init_model(cfg, "student", 0, task, rt), None, task, cfg.optim, 0, rt))
    saved = {}
    keep = lambda epochs, build: saved.update(build()) if epochs == 1 else None  # noqa: E731
    train_stage(StageJob(stage, init_model(cfg, "student", 0, task, rt), None, task, cfg.optim, 0, rt, on_state=keep))
    torch.manual_seed(12345)  # another process: its random stream is elsewhere
    resumed = train_stage(
        StageJob(stage, init_model(cfg, "student", 0, task, rt), None, task, cfg.optim, 0, rt, resume=saved)
    )
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in whole.history]
    assert all(torch.equal(resumed.best_state[k], whole.best_state[k]) for k in whole.best_state)
