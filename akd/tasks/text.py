"""Sequence classification and regression (GLUE and TSV folders), tokenised once, on the device.

A :class:`TextSpec` declares a task: which columns hold the sentence (or the two sentences of a
pair) and the label, how many labels (1 = regression), the metrics and the one selection metric.
:func:`read_splits` reads the training and evaluation files through HuggingFace ``datasets`` (the
hub, or local TSV files) and tokenises them with ``Dataset.map``, whose on-disk cache makes this a
one-time cost per (files, tokenizer, max length). :class:`TextTask` then holds every split as
padded token tensors plus lengths, on the device.

- The validation split for every selection decision is held out of the training file with the
  fixed ``data.split_seed``; the task's evaluation file (GLUE's dev set: GLUE's test labels are
  hidden) is the reported "test" split.
- Batches: an epoch's order is a pure function of (seed, epoch); each batch is cut to its longest
  example. There is no augmentation, so a frozen teacher's outputs are computed once per task
  (``akd.teacher``).
- Teacher, TA and student read the same tokens: the student's tokenizer unless ``data.tokenizer``
  names another (as in the official code, which tokenises once with the student's).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from akd.config import BenchConfig, DataConfig
from akd.errors import AkdError, exception_chain
from akd.hashing import derive_seed
from akd.splits import check_classes, check_sizes, hold_out
from akd.tasks.base import SplitName, Task, TrainBatch
from akd.tasks.metrics import METRICS
from akd.text_models import build_text_model, load_tokenizer

TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class TextSpec:
    name: str
    texts: tuple[str, ...]  # one column (single sentence) or two (a pair)
    label: str
    num_labels: int  # 1 = regression (float targets)
    metrics: tuple[str, ...] = ("acc",)
    selection: str = "acc"
    report: str = ""  # the metric tables show; "" = the selection metric
    label_names: tuple[str, ...] = ()  # labels written as strings in the files, in index order


@dataclass
class Tokens:
    """One split: token tensors [N, max_length] (padded), lengths [N], labels [N]."""

    tensors: dict[str, torch.Tensor]
    lengths: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, idx: torch.Tensor) -> Tokens:
        return Tokens({k: v[idx] for k, v in self.tensors.items()}, self.lengths[idx], self.labels[idx])

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        longest = int(self.lengths[idx].max())
        return {k: v[idx, :longest] for k, v in self.tensors.items()}

    def to(self, device: torch.device) -> Tokens:
        tensors = {k: v.to(device) for k, v in self.tensors.items()}
        return Tokens(tensors, self.lengths.to(device), self.labels.to(device))


def tokenize(dataset: Any, spec: TextSpec, tokenizer: Any, max_length: int, labelled: bool = True) -> Tokens:
    """Tokenise a ``datasets.Dataset`` (cached on disk by ``datasets``) into padded tensors
    (an unlabelled split, such as GLUE's test set, gets placeholder labels 0)."""

    def encode(rows: dict[str, list]) -> dict[str, list]:
        texts = [[str(t) for t in rows[c]] for c in spec.texts]
        out = tokenizer(*texts, truncation=True, max_length=max_length, padding="max_length")
        return {k: out[k] for k in TOKEN_KEYS if k in out}

    encoded = dataset.map(encode, batched=True, desc=f"tokenising {spec.name}")
    keys = [k for k in TOKEN_KEYS if k in encoded.column_names]
    tensors = {k: torch.tensor(encoded[k], dtype=torch.long) for k in keys}
    lengths = tensors["attention_mask"].sum(1)
    if not labelled:
        return Tokens(
            tensors, lengths, torch.zeros(len(lengths), dtype=torch.float32 if spec.num_labels == 1 else torch.long)
        )
    return Tokens(tensors, lengths, labels_of(encoded[spec.label], spec))


FLOAT32_MAX = float(torch.finfo(torch.float32).max)  # a label past it would be read as inf


def _parsed(values: list, spec: TextSpec, kind: type) -> list:
    """Each label as ``kind``: a finite float, or an integer (1.0 is 1, 1.5 is refused); one line
    naming the first label that is not."""
    out = []
    for row, v in enumerate(values):
        try:
            x = float(v)
            ok = abs(x) <= FLOAT32_MAX and (kind is float or x.is_integer())  # finite as the float32 it becomes
        except (TypeError, ValueError):
            ok = False
        if not ok:
            want = "a finite number (a regression: num_labels = 1)" if kind is float else "a class index"
            hint = "" if kind is float else "; declare label_names for labels written as words"
            raise AkdError(f"{spec.name}: label {v!r} of example {row + 1} (column {spec.label}) is not {want}{hint}")
        out.append(kind(x))
    return out


def labels_of(values: list, spec: TextSpec) -> torch.Tensor:
    if spec.num_labels == 1:
        return torch.tensor(_parsed(values, spec, float), dtype=torch.float32)
    if spec.label_names:
        index = {name: i for i, name in enumerate(spec.label_names)}
        unknown = sorted({str(v) for v in values} - set(index))
        if unknown:
            raise AkdError(f"{spec.name}: unknown label(s) {', '.join(unknown[:5])}; expected {', '.join(index)}")
        return torch.tensor([index[str(v)] for v in values], dtype=torch.long)
    parsed = _parsed(values, spec, int)
    if parsed and (min(parsed) < 0 or max(parsed) >= spec.num_labels):
        raise AkdError(f"{spec.name}: labels must be 0..{spec.num_labels - 1}, found {min(parsed)}..{max(parsed)}")
    return torch.tensor(parsed, dtype=torch.long)


def _fingerprint(*splits: Tokens) -> str:
    h = hashlib.sha256()
    for split in splits:
        for t in (*split.tensors.values(), split.labels):
            h.update(t.contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


class TextTask(Task):
    def __init__(
        self,
        spec: TextSpec,
        cfg: DataConfig,
        train_full: Tokens,
        test: Tokens,
        source: str,
        tokenizer: str,
        extra: dict[str, Tokens] | None = None,
        unlabelled: dict[str, tuple[Tokens, list[str], str]] | None = None,
    ):
        self.spec, self.cfg, self.name, self.source = spec, cfg, spec.name, source
        self.tokenizer = tokenizer
        self.num_outputs = spec.num_labels
        self.metrics_fns = {m: METRICS[m] for m in dict.fromkeys((*spec.metrics, spec.selection))}
        self.selection_metric = spec.selection
        train_idx, val_idx = hold_out(cfg, len(train_full))
        if cfg.test_subset:
            test = test.take(torch.arange(min(cfg.test_subset, len(test))))
        self.splits = {
            "train": train_full.take(train_idx),
            "val": train_full.take(val_idx),
            "test": test,
        }
        if cfg.selection == "test":
            self.splits["val"] = test
        if spec.num_labels > 1:
            check_classes(spec.name, {"train": self.splits["train"].labels, "validation": self.splits["val"].labels,
                                      "test": test.labels})  # fmt: skip
        self.splits |= extra or {}
        self.extra_test_splits = tuple(extra or {})
        # GLUE's unlabelled test splits: tokens, the file's index column, the server's file name
        self.unlabelled = unlabelled or {}
        self.splits |= {split: tokens for split, (tokens, _, _) in self.unlabelled.items()}
        self.submission_files = {split: file for split, (_, _, file) in self.unlabelled.items()}
        self.fingerprint = _fingerprint(*self.splits.values())

    def to(self, device: torch.device) -> TextTask:
        self.splits = {k: v.to(device) for k, v in self.splits.items()}
        return self

    @property
    def report_metric(self) -> str:
        return self.spec.report or self.spec.selection

    @property
    def augmented(self) -> bool:
        return False

    def size(self, split: SplitName) -> int:
        return len(self.splits[split])

    def steps_per_epoch(self, batch_size: int) -> int:
        return -(-self.size("train") // batch_size)

    def train_batches(self, seed: int, epoch: int, batch_size: int) -> Iterator[TrainBatch]:
        train = self.splits["train"]
        gen = torch.Generator().manual_seed(derive_seed("akd-epoch", seed, epoch))
        order = torch.randperm(len(train), generator=gen).to(train.labels.device)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            yield idx, train.batch(idx), train.labels[idx]

    def eval_batches(self, split: SplitName, batch_size: int) -> Iterator[tuple[dict, torch.Tensor]]:
        part = self.splits[split]
        dev = part.labels.device
        for i in range(0, len(part), batch_size):
            idx = torch.arange(i, min(i + batch_size, len(part)), device=dev)
            yield part.batch(idx), part.labels[idx]

    def build_model(self, arch: str) -> nn.Module:
        return build_text_model(arch, self.num_outputs)

    def identity(self) -> dict[str, Any]:
        return {"dataset": self.name, "data": self.fingerprint, "tokenizer": self.tokenizer}

    def example_inputs(self, batch_size: int, device: torch.device) -> dict[str, torch.Tensor]:
        train = self.splits["train"]
        idx = torch.arange(min(batch_size, len(train)), device=train.labels.device)
        return {k: v.to(device) for k, v in train.batch(idx).items()}

    def submission_text(self, split: str, outputs: torch.Tensor) -> str:
        """``index<TAB>prediction`` lines: label names, class indices, or scores clipped to 0..5 (STS-B)."""
        _, index, _ = self.unlabelled[split]
        if self.regression:
            predictions = [f"{v:.3f}" for v in outputs[:, 0].clamp(0, 5).tolist()]
        else:
            classes = outputs.argmax(1).tolist()
            predictions = [self.spec.label_names[c] if self.spec.label_names else str(c) for c in classes]
        return "index\tprediction\n" + "".join(f"{i}\t{p}\n" for i, p in zip(index, predictions, strict=True))

    def describe(self) -> str:
        return (
            f"{self.name} read from {self.source} (fingerprint {self.fingerprint}); tokenizer {self.tokenizer}, "
            f"max length {self.cfg.max_length}"
        )


@dataclass
class TextSource:
    """Where a text task's files are: local data files, or a hub dataset."""

    data_files: dict[str, str] = field(default_factory=dict)  # {"train": path, "test": path, more test splits}
    csv_options: dict[str, Any] = field(default_factory=dict)
    hub: tuple[str, str, str] = ()  # (path, config name, evaluation split)
    hub_extra: dict[str, str] = field(default_factory=dict)  # our split name -> a further hub evaluation split
    unlabelled: dict[str, tuple[str, str]] = field(default_factory=dict)  # split -> (file or hub split, server file)
    hub_columns: dict[str, str] = field(default_factory=dict)  # hub column -> spec column


def read_splits(source: TextSource) -> tuple[dict[str, Any], str]:
    """``datasets.Dataset`` objects by split ("train", "test", extra test splits), and where they came from."""
    import datasets

    datasets.disable_progress_bars()
    if source.data_files:
        try:
            with warnings.catch_warnings():  # pandas drops a longer row's extra fields with only this warning
                warnings.filterwarnings("error", "Length of header or names does not match")
                loaded = datasets.load_dataset("csv", data_files=source.data_files, **source.csv_options)
        except Exception as exc:  # pandas and pyarrow raise many types for a malformed file
            *_, exc = exception_chain(exc)  # pandas' words, not datasets' wrapper
            files = ", ".join(dict.fromkeys(source.data_files.values()))
            why = " ".join(str(exc).split())
            raise AkdError(f"cannot read {files} as tab-separated text ({type(exc).__name__}: {why})") from None
        return dict(loaded), str(next(iter(source.data_files.values())).rsplit("/", 1)[0])
    path, name, test_split = source.hub
    loaded = datasets.load_dataset(path, name)
    if source.hub_columns:
        loaded = loaded.rename_columns({k: v for k, v in source.hub_columns.items() if k != v})
    splits = {"train": loaded["train"], "test": loaded[test_split]}
    return splits | {ours: loaded[theirs] for ours, theirs in source.hub_extra.items()}, f"hub:{path}/{name}"


def load_text_task(cfg: BenchConfig, spec: TextSpec, source: TextSource, device: torch.device) -> TextTask:
    tokenizer_name = cfg.data.tokenizer or cfg.student
    tokenizer = load_tokenizer(tokenizer_name)
    datasets, where = read_splits(source)
    for part, ds in datasets.items():
        missing = [c for c in (*spec.texts, spec.label) if c not in ds.column_names]
        if missing:
            raise AkdError(
                f"{spec.name}: the {part} file has no column {', '.join(missing)}; it has {', '.join(ds.column_names)}"
            )
    tokens = {part: tokenize(ds, spec, tokenizer, cfg.data.max_length) for part, ds in datasets.items()}
    train, test = tokens.pop("train"), tokens.pop("test")
    check_sizes(cfg.data, len(train), len(test))
    unlabelled = read_unlabelled(source, spec, tokenizer, cfg.data.max_length) if cfg.submission else {}
    return TextTask(spec, cfg.data, train, test, where, tokenizer_name, tokens, unlabelled).to(device)


def read_unlabelled(source: TextSource, spec: TextSpec, tokenizer: Any, max_length: int) -> dict:
    """The unlabelled test splits a benchmark server scores (GLUE), tokenised, with their index column."""
    import datasets

    if not source.unlabelled:
        raise AkdError(f"{spec.name} has no unlabelled test split: server submission files are for GLUE tasks")
    out = {}
    for split, (where, server_file) in source.unlabelled.items():
        if source.data_files:
            if not Path(where).is_file():
                raise AkdError(f"submission: {where} does not exist (GLUE's unlabelled test file)")
            options = {k: v for k, v in source.csv_options.items() if k not in ("header", "names")}  # with a header
            ds = datasets.load_dataset("csv", data_files={"test": where}, **options)["test"]
        else:
            path, name, _ = source.hub
            ds = datasets.load_dataset(path, name)[where].rename_columns(
                {k: v for k, v in source.hub_columns.items() if k != v and k != "label"}
            )
        column = next((c for c in ("index", "idx", "id") if c in ds.column_names), None)
        index = [str(i) for i in ds[column]] if column else [str(i) for i in range(len(ds))]
        out[split] = (tokenize(ds, spec, tokenizer, max_length, labelled=False), index, server_file)
    return out
