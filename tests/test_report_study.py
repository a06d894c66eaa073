"""The study's figures: both protocols per method, and the teacher ladder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import akd.catalog  # noqa: F401
from akd.report import figures_study
from akd.report.style import Style, caption


def _runs() -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(0)
    for variant, shift in (("study", 0.0), ("study-tuned", 1.0)):
        rows.append({"variant": variant, "run": "teacher", "seed": 0, "test_acc": 92.0, "epochs": 10})
        for method, base, epochs in (("nokd", 74.0, 10), ("kd", 76.0, 10), ("annealing", 77.0, 20)):
            for seed in range(10):
                e = 10 if variant.endswith("tuned") else epochs
                acc = base + shift + rng.normal(0, 0.5)
                rows.append({"variant": variant, "run": method, "seed": seed, "test_acc": acc, "epochs": e})
    for teacher, t_acc in (("resnet8", 90.0), ("resnet20", 92.0)):
        rows.append({"variant": f"study-gap-{teacher}", "run": "teacher", "seed": 0, "test_acc": t_acc, "epochs": 10})
        for method, base in (("nokd", 74.0), ("kd", 76.0 + t_acc - 90), ("annealing", 77.0)):
            for seed in range(5):
                rows.append(
                    {"variant": f"study-gap-{teacher}", "run": method, "seed": seed, "test_acc": base, "epochs": 10}
                )
    frame = pd.DataFrame(rows)
    return frame.assign(benchmark="fashion_mnist", dataset="fashion_mnist", metric="acc")


def test_a_study_is_a_profile_beside_its_tuned_variant():
    assert figures_study.study_profiles(_runs()) == [("fashion_mnist", "fashion_mnist", "study")]


def test_protocols_draws_both_protocols_of_every_method():
    runs = _runs()
    fig = figures_study.protocols(runs, "fashion_mnist", "fashion_mnist", "study", Style("icml"))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Annealing-KD", "KD", "No-KD"]  # the report order, top down
    means = sorted(
        round(line.get_xdata()[0], 6) for line in ax.lines if line.get_gid() != "seeds" and len(line.get_xdata()) == 1
    )
    tuned_kd = runs[(runs.variant == "study-tuned") & (runs.run == "kd")].test_acc.mean()
    assert round(tuned_kd, 6) in means
    text = caption(fig)
    assert "Annealing-KD 20, KD 10" in text and "every student 10 epochs" in text and "n = 10" in text
    assert fig.get_figwidth() == pytest.approx(Style("icml").width("one"))


def test_gap_puts_each_method_against_its_teachers_accuracy():
    fig = figures_study.gap(_runs(), "fashion_mnist", "fashion_mnist", "study-gap-", Style("icml"))
    ax = fig.axes[0]
    kd = next(c for c in ax.containers if c.get_label() == "KD")
    xs, ys = kd.lines[0].get_data()
    assert list(xs) == [90.0, 92.0] and list(ys) == pytest.approx([76.0, 78.0])
    assert {t.get_text() for t in ax.texts} == {"resnet8", "resnet20"}
    assert "n = 5" in caption(fig)


def test_teachers_of_nearly_equal_accuracy_get_their_names_on_separate_rows():
    runs = _runs()
    close = runs[runs.variant == "study-gap-resnet20"].assign(variant="study-gap-resnet14")
    close.loc[close.run == "teacher", "test_acc"] = 92.02  # 0.02 points from resnet20
    fig = figures_study.gap(pd.concat([runs, close]), "fashion_mnist", "fashion_mnist", "study-gap-", Style("icml"))
    names = {t.get_text(): t for t in fig.axes[0].texts if t.get_gid() == "teacher-name"}
    fig.canvas.draw()
    a, b = (names[n].get_window_extent() for n in ("resnet20", "resnet14"))
    assert not a.overlaps(b)  # one above the other
    assert names["resnet8"].xyann == (0, 1)  # a lone name stays on the first row


def test_a_far_off_mean_is_marked_at_the_edge_not_squeezing_the_others():
    runs = _runs()
    collapsed = (runs.variant == "study") & (runs.run == "kd")
    runs.loc[collapsed, "test_acc"] = 40.0 + np.arange(10.0)  # a paper-protocol collapse, 35 points below
    fig = figures_study.protocols(runs, "fashion_mnist", "fashion_mnist", "study", Style("icml"))
    ax = fig.axes[0]
    left = ax.get_xlim()[0]
    assert left > 70  # the axis spans the others: every other row's seeds start above 72
    edge = [line for line in ax.lines if line.get_gid() == "off-scale"]
    assert len(edge) == 1 and edge[0].get_xdata()[0] == pytest.approx(left)
    assert any("44.5 ± 2.2 (off scale)" in t.get_text() for t in ax.texts)  # its mean and half-width
    assert "left edge" in caption(fig)
    # and no row is marked when none is far off
    plain = figures_study.protocols(_runs(), "fashion_mnist", "fashion_mnist", "study", Style("icml"))
    assert not [line for line in plain.axes[0].lines if line.get_gid() == "off-scale"]
    assert "left edge" not in caption(plain)
