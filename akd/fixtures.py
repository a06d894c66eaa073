"""Synthetic datasets written in the real on-disk formats, for the tests and the perf benchmark.

Full CIFAR cannot be downloaded on the machines this suite is developed on, so the CIFAR reader is
exercised on folders laid out exactly like torchvision's python-pickle release, and the end-to-end
tests run Fashion-MNIST's smoke profile on gzipped IDX files laid out as torchvision's download.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np


def write_cifar(root: Path, name: str, n_train: int, n_test: int, seed: int = 0) -> dict:
    """Write a CIFAR fixture in torchvision's python-pickle layout; return the arrays written."""
    rng = np.random.default_rng(seed)
    classes = 10 if name == "cifar10" else 100
    train = rng.integers(0, 256, (n_train, 3072), dtype=np.uint8)
    test = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    y_train = rng.integers(0, classes, n_train).tolist()
    y_test = rng.integers(0, classes, n_test).tolist()
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        for i, part in enumerate(np.array_split(np.arange(n_train), 5), start=1):
            batch = {
                "batch_label": f"training batch {i} of 5",
                "data": train[part],
                "labels": [y_train[j] for j in part],
                "filenames": [f"{j}.png" for j in part],
            }
            (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
        (folder / "test_batch").write_bytes(pickle.dumps({"data": test, "labels": y_test}))
        (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        coarse = rng.integers(0, 20, n_train).tolist()
        (folder / "train").write_bytes(pickle.dumps({"data": train, "fine_labels": y_train, "coarse_labels": coarse}))
        (folder / "test").write_bytes(
            pickle.dumps({"data": test, "fine_labels": y_test, "coarse_labels": rng.integers(0, 20, n_test).tolist()})
        )
        (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"c{i}" for i in range(100)]}))
    return {"train": train, "test": test, "y_train": y_train, "y_test": y_test}


def write_fashion_mnist(root: Path, n_train: int, n_test: int, seed: int = 0) -> dict:
    """Write a Fashion-MNIST fixture as gzipped IDX files in torchvision's ``FashionMNIST/raw``
    layout (the format of the real release and of Debian's package); return the arrays written."""
    rng = np.random.default_rng(seed)
    folder = root / "FashionMNIST" / "raw"
    folder.mkdir(parents=True)
    out = {}
    for split, stem, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        head = b"".join(v.to_bytes(4, "big") for v in (2051, n, 28, 28))
        (folder / f"{stem}-images-idx3-ubyte.gz").write_bytes(gzip.compress(head + images.tobytes()))
        head = b"".join(v.to_bytes(4, "big") for v in (2049, n))
        (folder / f"{stem}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(head + labels.tobytes()))
        out[split], out[f"y_{split}"] = images, labels.tolist()
    return out


# ---------------------------------------------------------------- text: GLUE's TSV layout, a tiny BERT
GOOD = ("good", "great", "fine", "superb", "moving")
BAD = ("bad", "dull", "awful", "boring", "weak")
FILLER = ("the", "film", "plot", "actors", "story", "a", "was", "is", "very", "and")
WORDS = GOOD + BAD + FILLER


def _sentence(rng: np.random.Generator, polar: tuple[str, ...], n: int = 5) -> list[str]:
    words = list(rng.choice(FILLER, n - 1)) + [str(rng.choice(polar))]
    rng.shuffle(words)
    return [str(w) for w in words]


def write_glue(root: Path, n_train: int, n_dev: int, seed: int = 0) -> None:
    """SST-2, CoLA (no header line), RTE (string labels), MRPC, MNLI (three labels, matched and
    mismatched dev files) and STS-B (float scores) folders in GLUE's
    classic TSV layout, with learnable labels: sentiment words decide SST-2 and CoLA, whether the
    hypothesis' words all occur in the premise decides RTE, word overlap sets the STS-B score."""
    rng = np.random.default_rng(seed)

    def write(folder: str, name: str, header: str | None, rows: list[list[str]]) -> None:
        path = root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ([header] if header else []) + ["\t".join(r) for r in rows]
        path.write_text("\n".join(lines) + "\n")

    for split, n in (("train.tsv", n_train), ("dev.tsv", n_dev)):
        labels = rng.integers(0, 2, n)
        sst = [[" ".join(_sentence(rng, GOOD if y else BAD)), str(y)] for y in labels]
        write("SST-2", split, "sentence\tlabel", sst)
        if split == "dev.tsv":  # GLUE's unlabelled test file: an index column and the sentence
            write("SST-2", "test.tsv", "index\tsentence", [[str(i), s] for i, (s, _) in enumerate(sst)])
        write("CoLA", split, None, [["src", str(y), "*" if not y else "", s] for s, y in sst])
        rte, sts = [], []
        for i in range(n):
            premise = _sentence(rng, WORDS, 6)
            entailed = bool(rng.integers(0, 2))
            hypothesis = premise[:3] if entailed else _sentence(rng, GOOD + BAD, 3)
            label = "entailment" if entailed else "not_entailment"
            rte.append([str(i), " ".join(premise), " ".join(hypothesis), label])
            other = premise[: int(rng.integers(0, 7))] + _sentence(rng, FILLER, 3)
            overlap = len(set(premise) & set(other)) / len(set(premise) | set(other))
            sts.append([str(i), "g", "f", "y", "s", "s", " ".join(premise), " ".join(other), f"{5 * overlap:.3f}"])
        write("RTE", split, "index\tsentence1\tsentence2\tlabel", rte)
        mrpc = [[str(int(r[3] == "entailment")), r[0], r[0], r[1], r[2]] for r in rte]
        write("MRPC", split, "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", mrpc)
        nli = ("entailment", "neutral", "contradiction")
        mnli = [[r[0], "g", r[1], r[2], nli[0] if r[3] == "entailment" else nli[1 + i % 2]] for i, r in enumerate(rte)]
        names = ("dev_matched.tsv", "dev_mismatched.tsv") if split == "dev.tsv" else (split,)
        for name in names:
            write("MNLI", name, "index\tgenre\tsentence1\tsentence2\tgold_label", mnli)
        header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsentence1\tsentence2\tscore"
        write("STS-B", split, header, sts)


def write_tiny_bert(folder: Path, layers: int = 2, hidden: int = 16, seed: int = 0) -> Path:
    """A randomly initialised BERT encoder (``layers`` x ``hidden``, no classification head, like a
    pretrained checkpoint) and its WordPiece tokenizer over the fixture words, as a HuggingFace
    model folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = {w: i for i, w in enumerate(("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS))}
    BertTokenizer(vocab=vocab).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    return folder
