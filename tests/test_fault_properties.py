"""Property-based faults (hypothesis): the readers of the user's files either read them correctly or
say why in one line (an AkdError); no malformed IDX header, TSV row or TOML value gets another
exception (a traceback) or a silently wrong result."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math

import pytest
import torch
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from akd.config import BenchConfig
from akd.errors import AkdError
from akd.settings import flatten

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ------------------------------------------------------------------------------------------- IDX
def _idx_file(magic: int, dims: list[int], body: bytes, gz: bool) -> bytes:
    data = b"".join((v % 2**32).to_bytes(4, "big") for v in (magic, *dims)) + body
    return gzip.compress(data) if gz else data


MUTATIONS = ["none", "magic", "cut images", "extra images", "cut labels", "label count", "short header", "huge"]


@FAST
@given(
    n=st.integers(min_value=0, max_value=5),
    rows=st.integers(min_value=0, max_value=4),
    cols=st.integers(min_value=0, max_value=4),
    label_values=st.lists(st.integers(min_value=0, max_value=12), min_size=5, max_size=5),
    mutation=st.sampled_from(["none"] * 4 + MUTATIONS[1:]),  # a good file half the time
    amount=st.integers(min_value=1, max_value=20),
    gz=st.booleans(),
)
def test_a_malformed_idx_file_is_read_right_or_refused_in_one_line(
    tmp_path, n, rows, cols, label_values, mutation, amount, gz
):
    """A well-formed pair of files of any size, or one with one thing wrong: read exactly as written,
    or refused in one line; never a traceback, never images without pixels."""
    from akd.readers import USERS, read_idx

    labels = bytes(label_values[:n])
    pixels = bytes((i * 7) % 256 for i in range(n * rows * cols))
    magic, dims, n_labels = 2051, [n, rows, cols], n
    if mutation == "magic":
        magic = 2049
    elif mutation == "cut images":
        pixels = pixels[: max(0, len(pixels) - amount)]
    elif mutation == "extra images":
        pixels += b"\0" * amount
    elif mutation == "cut labels":
        labels = labels[: max(0, len(labels) - amount)]
    elif mutation == "label count":
        n_labels = n + amount
    elif mutation == "huge":
        dims[amount % 3] = 2**32 - amount
    image_file = _idx_file(magic, dims, pixels, gz=False)
    if mutation == "short header":
        image_file = image_file[: amount % 16]
    images, label_file = tmp_path / ("i.gz" if gz else "i"), tmp_path / "l"
    images.write_bytes(gzip.compress(image_file) if gz else image_file)
    label_file.write_bytes(_idx_file(2049, [n_labels], labels, gz=False))
    try:
        split = read_idx(images, label_file, classes=10, remedy=USERS)
    except AkdError as exc:
        assert str(exc) and "\n" not in str(exc)
        event("refused")
        return
    event("read")
    changed = mutation not in ("none", "cut labels") or len(labels) != n  # cutting 0 labels changes nothing
    assert not changed, f"{mutation} was read as if nothing were wrong"
    assert n >= 1 and rows >= 1 and cols >= 1, "images without pixels (or no images) were read"
    assert tuple(split.images.shape) == (n, 1, rows, cols) and split.labels.tolist() == list(labels)
    assert split.images.flatten().tolist() == list(pixels) and all(v < 10 for v in labels)


# ------------------------------------------------------------------------------------------- TSV
def _spec(num_labels: int, label_names: tuple[str, ...] = ()):
    from akd.tasks.text import TextSpec

    return TextSpec("user", ("text",), "label", num_labels, ("acc",), "acc", "acc", label_names)


label_text = st.one_of(
    st.sampled_from(["0", "1", "2", "1.0", "1.5", "-1", "nan", "NaN", "inf", "-inf", "1e400", "", " 1 ", "pos", "1_0"]),
    st.text(max_size=6),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-5, max_value=5).map(str),
)


@FAST
@given(values=st.lists(label_text, min_size=1, max_size=8), num_labels=st.sampled_from([1, 2, 3]))
def test_a_label_is_parsed_right_or_refused_in_one_line(values, num_labels):
    from akd.tasks.text import labels_of

    try:
        labels = labels_of(values, _spec(num_labels))
    except AkdError as exc:
        assert "\n" not in str(exc) and "label" in str(exc)
        event("refused")
        return
    event("read")
    assert len(labels) == len(values)
    if num_labels == 1:  # a regression: every label a finite number, as written
        assert labels.dtype == torch.float32 and all(math.isfinite(float(v)) for v in values)
        assert labels.tolist() == [pytest.approx(float(v), rel=1e-6, abs=1e-30) for v in values]
    else:  # classes: whole numbers in 0..K-1, as written
        assert labels.dtype == torch.long and all(0 <= v < num_labels for v in labels.tolist())
        assert labels.tolist() == [int(float(v)) for v in values] and all(float(v).is_integer() for v in values)


plain = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\t\r\n"), max_size=8)
good_row = st.tuples(plain, st.sampled_from(["0", "1"])).map(list)
bad_row = st.one_of(
    st.tuples(plain, st.sampled_from(["0", "1"]), st.sampled_from(["0", "x", ""])).map(list),  # a field too many
    st.tuples(plain.filter(bool)).map(list),  # no label
    st.tuples(plain, st.sampled_from(["2", "-1", "1.5", "", "one", "nan"])).map(list),  # not a class of two
    st.tuples(st.sampled_from(["a\rb", "a\tb\tc"]), st.sampled_from(["0", "1"])).map(list),  # a break or a tab
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(good_row, max_size=5), bad=st.lists(bad_row, max_size=1), at=st.integers(0, 5))
@example(rows=[], bad=[["the 0 is", "1", "0"]], at=0)  # pandas took a long first row's first field as an index
@example(rows=[["007", "1"], ["1.50", "0"]], bad=[], at=0)  # and texts that look like numbers as numbers
def test_a_malformed_tsv_row_is_refused_in_one_line_and_good_rows_are_read_as_written(tmp_path, rows, bad, at):
    """A user's TSV (header, then rows) as the user task reads it: every good file read exactly as
    written (no number taken from a text, no field shifted into another column); a file with one
    bad row refused in one line."""
    from akd.tasks.text import TextSource, labels_of, read_splits
    from akd.tasks.user import tsv_options

    rows = rows[:at] + bad + rows[at:]
    assume(rows)
    path = tmp_path / "train.tsv"
    path.write_text("text\tlabel\n" + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    try:
        source = TextSource(
            data_files={"train": str(path), "test": str(path)}, csv_options=tsv_options(("text", "label"))
        )
        train = read_splits(source)[0]["train"]
        labels = labels_of(train["label"], _spec(2))
    except AkdError as exc:
        assert "\n" not in str(exc).strip() and bad, f"a good file refused: {exc}"
        event("refused")
        return
    assert not bad, f"{bad} was read as if nothing were wrong: {list(train['text'])}, {labels.tolist()}"
    assert list(train["text"]) == [r[0] for r in rows] and labels.tolist() == [int(r[1]) for r in rows]
    event("read")


# ------------------------------------------------------------------------------------------- TOML
KEYS = sorted(flatten(dataclasses.asdict(BenchConfig())))


def _toml(value: object) -> str:
    """A TOML literal for a JSON-like value (strings as basic strings, floats with nan and inf)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"


scalar = st.one_of(st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=6))
value = st.recursive(
    scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=2)),
    max_leaves=5,
)  # noqa: E501
raw = st.text(max_size=12)  # anything at all after the "=", TOML or not


DEFAULTS = flatten(dataclasses.asdict(BenchConfig()))


@FAST
@given(data=st.data(), garbage=st.none() | raw)
def test_a_toml_value_is_taken_or_refused_in_one_line(tmp_path, data, garbage):
    """Any value, TOML or not, for any setting (or a name that is none): taken as the setting's own
    type, or refused in one line; an unknown name is never taken."""
    from akd.benchfile import load_benchmark

    key = data.draw(st.sampled_from([*KEYS, "optim.lrr", "nope", "kd", "data"]), "key")
    default = DEFAULTS.get(key, 0)
    text = garbage if garbage is not None else _toml(data.draw(st.one_of(st.just(default), value), "value"))
    path = tmp_path / "mine.toml"
    path.write_text(f"[defaults]\n{key} = {text}\n\n[profiles.p]\nseeds = [0]\n", encoding="utf-8")
    try:
        cfg = load_benchmark(str(path), "p")
    except AkdError as exc:
        assert "\n" not in str(exc).strip() or "TOML" in str(exc)
        event("refused")
        return
    event("read")
    assert cfg.profile == "p" and key in KEYS  # an unknown key is never taken
    taken = flatten(dataclasses.asdict(cfg))[key]
    assert type(taken) is type(default) or default is None or isinstance(default, (list, tuple, dict)), (key, taken)
