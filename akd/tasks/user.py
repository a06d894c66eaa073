"""Datasets of your own, declared in a benchmark file's ``[task]`` table (``data.dataset = "user"``).

Text (``kind = "text"``): TSV files read by the same code path as GLUE, with the columns, label
count (1 = regression) and metrics you declare. Images (``kind = "images"``): torchvision's
``ImageFolder`` layout (``train/<class>/*.png``; classes are the sorted folder names) or IDX files,
normalised with the ``mean``/``std`` you give or those of the training split. Every mistake in the
declaration or the files is one line naming what is missing or malformed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from akd.config import BenchConfig, TaskDecl
from akd.data import assemble, channel_stats
from akd.errors import AkdError
from akd.readers import USERS, Split, read_idx
from akd.registry import IMAGE_MODELS, TASKS
from akd.tasks.base import Task, TaskSpec
from akd.tasks.image import ImageTask
from akd.tasks.metrics import METRICS, metric_problem
from akd.tasks.text import TextSource, TextSpec, load_text_task

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _path(decl: TaskDecl, name: str, what: str) -> Path:
    if not name:
        raise AkdError(f"[task] {what} is not set: name the file or folder, relative to task.folder")
    path = Path(decl.folder).expanduser() / name
    if not path.exists():
        raise AkdError(f"[task] {what} {path} does not exist")
    return path


def _spec(decl: TaskDecl) -> TextSpec:
    selection = decl.selection or decl.metrics[0]
    return TextSpec(
        "user", tuple(decl.texts), decl.label, decl.num_labels, tuple(decl.metrics), selection, decl.report,
        tuple(decl.label_names),
    )  # fmt: skip


def tsv_options(columns: tuple[str, ...]) -> dict:
    """pandas' options for a user's TSV files: a row with more fields than the header refused (never
    its first field taken as an index), and the named columns kept as written ("007" stays "007")."""
    options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE, "keep_default_na": False, "index_col": False}
    return options | {"converters": dict.fromkeys(columns, str)}


def load_text(cfg: BenchConfig, device: torch.device) -> Task:
    decl = cfg.task
    files = {
        "train": str(_path(decl, decl.train or "train.tsv", "train")),
        "test": str(_path(decl, decl.test or "dev.tsv", "test")),
    }
    options = tsv_options((*decl.texts, decl.label))
    if not decl.header or decl.column_names:
        options |= {"header": None, "names": list(decl.column_names)}
    return load_text_task(cfg, _spec(decl), TextSource(data_files=files, csv_options=options), device)


GREY = ("L", "1", "I;16", "I", "LA")


def _image_files(folder: Path, classes: list[str] | None) -> tuple[list[tuple[Path, int]], list[str]]:
    found = sorted(p.name for p in folder.iterdir() if p.is_dir())
    classes = classes or found
    if not classes:
        raise AkdError(f"{folder} holds no class folders (ImageFolder layout: {folder}/<class>/<image>)")
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise AkdError(f"{folder} has class folders the training set lacks: {', '.join(unknown[:5])}")
    files = [
        (file, label)
        for label, name in enumerate(classes)
        for file in (sorted((folder / name).iterdir()) if (folder / name).is_dir() else [])
        if file.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise AkdError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files, classes


def _open(file: Path):  # noqa: ANN202
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(file)
    except (OSError, UnidentifiedImageError):
        raise AkdError(f"image {file} cannot be read") from None


def image_mode(files: list[Path]) -> str:
    """ "L" when every image is greyscale, else "RGB" (a greyscale image among colour ones is
    repeated over 3 channels): decided from every file's header, not from the first file."""
    for file in files:
        with _open(file) as img:
            if img.mode not in GREY:
                return "RGB"
    return "L"


def read_image_folder(folder: Path, classes: list[str] | None = None) -> tuple[Split, list[str]]:
    """``folder/<class>/<image>`` as uint8 [N, C, H, W] and labels (class = index in sorted names),
    in the channels of :func:`image_mode` over every file."""
    files, classes = _image_files(folder, classes)
    return _read_images(files, image_mode([f for f, _ in files])), classes


def _read_images(files: list[tuple[Path, int]], mode: str) -> Split:
    """The listed (file, label) pairs as one split, each image converted to ``mode``."""
    images, shape = [], None
    for file, _ in files:
        try:
            with _open(file) as img:
                array = np.asarray(img.convert(mode), dtype=np.uint8)
        except OSError:
            raise AkdError(f"image {file} cannot be read") from None
        if shape is None:
            shape = array.shape
        if array.shape != shape:
            raise AkdError(f"image {file} is {array.shape}, the others {shape}: resize them to one size first")
        images.append(array if array.ndim == 3 else array[:, :, None])
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return Split(x, torch.tensor([label for _, label in files], dtype=torch.long))


def load_images(cfg: BenchConfig, device: torch.device) -> Task:
    decl = cfg.task
    train_path, test_path = _path(decl, decl.train, "train"), _path(decl, decl.test, "test")
    if train_path.is_dir():
        train_files, classes = _image_files(train_path, None)
        test_files, _ = _image_files(test_path, classes)
        mode = image_mode([f for f, _ in train_files + test_files])  # one channel count for both splits
        train, test = _read_images(train_files, mode), _read_images(test_files, mode)
        num_classes = len(classes)
    else:
        train_labels, test_labels = (
            _path(decl, decl.train_labels, "train_labels"),
            _path(decl, decl.test_labels, "test_labels"),
        )
        train, test = (read_idx(x, y, 256, USERS) for x, y in ((train_path, train_labels), (test_path, test_labels)))
        num_classes = int(max(train.labels.max(), test.labels.max())) + 1
    channels = train.images.shape[1]
    if decl.mean or decl.std:
        stats = (tuple(decl.mean), tuple(decl.std))
        if len(decl.mean) != channels or len(decl.std) != channels:
            raise AkdError(f"[task] mean and std need {channels} value(s) each, one per channel")
    else:
        stats = channel_stats(train.images)  # of the whole training file, before the validation hold-out
    data = assemble(cfg.data, train, test, stats, num_classes, train_path, device)
    return ImageTask(cfg.data, data)


def check(cfg: BenchConfig) -> None:
    decl = cfg.task
    if decl.kind not in ("text", "images"):
        raise AkdError('data.dataset "user" needs a [task] table in the benchmark file with kind = "text" or "images"')
    if not decl.folder or not Path(decl.folder).expanduser().is_dir():
        raise AkdError(f"[task] folder {decl.folder or '(not set)'} is not a folder")
    if decl.kind == "images":
        for role in ("teacher", "ta", "student"):
            IMAGE_MODELS.get(cfg.arch(role))
        if any(s <= 0 for s in decl.std):
            raise AkdError(f"[task] std must be positive, got {decl.std}")
        return
    if not 1 <= len(decl.texts) <= 2:
        raise AkdError(f"[task] texts names one column (a sentence) or two (a pair), got {decl.texts}")
    if decl.num_labels < 1 or (decl.label_names and len(decl.label_names) != decl.num_labels):
        raise AkdError(f"[task] num_labels must be >= 1 (1 = regression) and match label_names, got {decl.num_labels}")
    unknown = [m for m in (*decl.metrics, decl.selection, decl.report) if m and m not in METRICS]
    if unknown or not decl.metrics:
        raise AkdError(f"[task] unknown metric {', '.join(unknown) or '(none)'}; choose from {', '.join(METRICS)}")
    for name in dict.fromkeys(m for m in (*decl.metrics, decl.selection, decl.report) if m):
        problem = metric_problem(name, decl.num_labels)
        if problem:  # found now, not after the teacher has trained
            raise AkdError(f"[task] metric {problem}")


def _load(cfg: BenchConfig, device: torch.device) -> Task:
    return load_images(cfg, device) if cfg.task.kind == "images" else load_text(cfg, device)


TASKS.add("user", TaskSpec(load=_load, check=check))
