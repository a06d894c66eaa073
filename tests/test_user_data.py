"""The user's own data: a benchmark file given by path declares a task from a local folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from akd.benchfile import load_benchmark
from akd.cli import main
from akd.tasks.base import load_task

PROFILE = """
[defaults]
teacher = "resnet8"
ta = "resnet8"
student = "resnet8"
methods = ["nokd", "kd"]

[profiles.smoke]
teacher_epochs = 1
student_epochs = 1
seeds = [0]
optim = { batch_size = 8 }
"""


def _png_folder(root, split: str, n_per_class: int, seed: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, name in enumerate(("cat", "dog", "eel")):
        folder = root / split / name
        folder.mkdir(parents=True)
        for i in range(n_per_class):
            pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) // (label + 1)
            Image.fromarray(pixels).save(folder / f"{i}.png")


def _idx(path, array: np.ndarray, magic: int) -> None:
    header = [magic, *array.shape]
    path.write_bytes(b"".join(v.to_bytes(4, "big") for v in header) + array.astype(np.uint8).tobytes())


def _bench(tmp, toml: str, *extra: str) -> int:
    (tmp / "mine.toml").write_text(toml)
    args = ["bench", str(tmp / "mine.toml"), "--profile", "smoke", "--store-dir", str(tmp / "store")]
    args += ["--results-dir", str(tmp / "results"), "--cache-dir", str(tmp / "cache")]
    return main([*args, "--tracking-uri", f"sqlite:///{tmp / 'mlflow.db'}", *extra])


def test_image_folder_task_runs_with_normalisation_from_its_training_split(tmp_path):
    _png_folder(tmp_path / "pets", "train", 20, 0)
    _png_folder(tmp_path / "pets", "test", 4, 1)
    toml = '[task]\nkind = "images"\nfolder = "pets"\ntrain = "train"\ntest = "test"\n' + PROFILE
    assert _bench(tmp_path, toml) == 0
    summary = (tmp_path / "results" / "mine" / "smoke" / "summary.md").read_text()
    assert "| No-KD | resnet8 |" in summary and "| KD | resnet8 |" in summary
    (tmp_path / "mine.toml").write_text(toml)
    task = load_task(load_benchmark(str(tmp_path / "mine.toml"), "smoke"))
    assert task.num_outputs == 3 and task.size("test") == 12 and task.size("train") + task.size("val") == 60
    # class 2 ("eel") images are the random pixels divided by 3: the mean is computed, not assumed
    from PIL import Image

    pixels = np.stack(
        [np.asarray(Image.open(p)) for p in sorted((tmp_path / "pets" / "train").glob("*/*.png"))]
    ).astype(np.float64)
    expected = pixels.mean(axis=(0, 1, 2)) / 255
    assert task.data.mean.flatten().tolist() == pytest.approx((expected * 255).tolist(), rel=1e-5)


def test_idx_task_with_declared_normalisation(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "digits"
    folder.mkdir()
    for split, n in (("train", 50), ("test", 10)):
        _idx(folder / f"{split}-images", rng.integers(0, 256, (n, 6, 6)), 2051)
        _idx(folder / f"{split}-labels", rng.integers(0, 4, (n,)), 2049)
    decl = '[task]\nkind = "images"\nfolder = "digits"\ntrain = "train-images"\ntest = "test-images"\n'
    decl += 'train_labels = "train-labels"\ntest_labels = "test-labels"\nmean = [0.5]\nstd = [0.25]\n'
    assert _bench(tmp_path, decl + PROFILE, "--methods", "nokd") == 0
    task = load_task(load_benchmark(str(tmp_path / "mine.toml"), "smoke"))
    assert task.data.in_channels == 1 and task.num_outputs <= 4
    assert task.data.mean.flatten().tolist() == pytest.approx([127.5]) and task.data.std.flatten().tolist() == [63.75]


def test_text_task_declared_with_its_own_columns(tmp_path):
    from akd.fixtures import write_tiny_bert

    bert = write_tiny_bert(tmp_path / "bert")
    folder = tmp_path / "reviews"
    folder.mkdir()
    for name, n in (("train.tsv", 40), ("dev.tsv", 10)):
        rows = [f"{'great film' if i % 2 else 'dull plot'}\t{'pos' if i % 2 else 'neg'}" for i in range(n)]
        (folder / name).write_text("review\tverdict\n" + "\n".join(rows) + "\n")
    toml = f"""
[task]
kind = "text"
folder = "reviews"
texts = ["review"]
label = "verdict"
label_names = ["neg", "pos"]
metrics = ["acc", "f1"]

[defaults]
teacher = "{bert}"
ta = "{bert}"
student = "{bert}#layers=1"
methods = ["kd"]
optim = {{ name = "adamw", lr = 1e-3, schedule = "linear", batch_size = 8 }}

[profiles.smoke]
teacher_epochs = 1
student_epochs = 1
seeds = [0]
"""
    assert _bench(tmp_path, toml) == 0
    task = load_task(load_benchmark(str(tmp_path / "mine.toml"), "smoke"))
    assert task.selection_metric == "acc" and set(task.metrics_fns) == {"acc", "f1"}
    assert task.splits["test"].labels.tolist() == [i % 2 for i in range(10)]
    runs = (tmp_path / "results" / "mine" / "smoke" / "runs.csv").read_text()
    assert "test_f1" in runs.splitlines()[0]


@pytest.mark.parametrize(
    ("decl", "fragment"),
    [
        ('[task]\nkind = "images"\nfolder = "nowhere"\n', "[task] folder"),
        ('[task]\nkind = "sound"\nfolder = "."\n', 'kind = "text" or "images"'),
        ('[task]\nkind = "images"\nfolder = "."\ntrain = "missing"\ntest = "x"\n', "train"),
        ('[task]\nkind = "text"\nfolder = "."\nmetrics = ["bleu"]\n', "unknown metric bleu"),
        ('[task]\nkind = "text"\nfolder = "."\ntexts = ["a", "b", "c"]\n', "one column (a sentence) or two"),
        ('[task]\nkind = "images"\nfolder = "."\nmean = ["x"]\n', "task.mean"),
    ],
)
def test_a_bad_declaration_is_one_line(tmp_path, capsys, decl, fragment):
    assert _bench(tmp_path, decl + PROFILE) == 2
    err = capsys.readouterr().err
    assert err.startswith("akd: error: ") and err.count("\n") == 1 and fragment in err, err


def test_image_channels_are_decided_from_every_file_not_the_first(tmp_path):
    from PIL import Image

    _png_folder(tmp_path / "pets", "train", 20, 0)
    _png_folder(tmp_path / "pets", "test", 4, 1)
    first = tmp_path / "pets" / "train" / "cat" / "0.png"  # the first file read: greyscale
    grey = np.asarray(Image.open(first).convert("L"))
    Image.fromarray(grey).save(first)
    toml = '[task]\nkind = "images"\nfolder = "pets"\ntrain = "train"\ntest = "test"\n' + PROFILE
    (tmp_path / "mine.toml").write_text(toml)
    from akd.tasks.user import read_image_folder

    split, _ = read_image_folder(tmp_path / "pets" / "train")
    assert split.images.shape[1:] == (3, 8, 8)  # colour: the others are
    assert (split.images[0] == torch.from_numpy(grey)).all()  # the grey one repeated over 3 channels
    task = load_task(load_benchmark(str(tmp_path / "mine.toml"), "smoke"))
    assert task.data.in_channels == 3
