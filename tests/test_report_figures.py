"""Analysis figures (akd.report.figures): drawn from small frames, saved as PNG and PDF with embedded fonts."""

from __future__ import annotations

import pandas as pd
import pytest

from akd.report import figures
from akd.report.style import save
from akd.stats import paired


def _curves():
    rows = []
    for method, base in (("nokd", 80.0), ("annealing", 82.0)):
        for seed in range(2):
            for step in range(4):
                phase = 2 if method == "annealing" and step >= 2 else 1
                rows.append({"run": method, "seed": seed, "step": step, "val_acc": base + step + seed, "phase": phase})
    return pd.DataFrame(rows)


def test_schedule_plots_the_annealing_temperatures_and_scales():
    fig = figures.schedule(tau_max=2, phase1_epochs=4, phase2_epochs=2)
    ax, right = fig.axes
    assert list(ax.lines[0].get_ydata()) == [2, 2, 1, 1]  # T drops by one every 4 // 2 epochs
    assert list(right.lines[0].get_ydata()) == [0.5, 0.5, 1.0, 1.0]  # Phi = 1 - (T - 1) / tau_max


def test_curves_mean_band_and_phase_boundary():
    fig = figures.curves(_curves(), "acc", "t")
    ax = fig.axes[0]
    nokd = ax.lines[0]
    assert list(nokd.get_ydata()) == [80.5, 81.5, 82.5, 83.5]  # mean of seeds 0 and 1
    boundary = [line for line in ax.lines if list(line.get_xdata()) == [1.5, 1.5]]
    assert boundary  # phase 2 starts at step 2


def test_forest_places_each_difference_and_interval():
    a, b = {0: 2.0, 1: 3.0, 2: 4.0}, {0: 1.0, 1: 1.0, 2: 1.0}
    p = paired(a, b)
    fig = figures.forest([("x vs y", p)])
    ax = fig.axes[0]
    xs = [list(line.get_xdata()) for line in ax.lines]
    assert [p.ci_low, p.ci_high] in xs and [p.mean] in xs and [1.0, 2.0, 3.0] in xs


def test_files_are_png_and_pdf_with_embedded_truetype_fonts_and_repeatable(tmp_path):
    paths = save(
        figures.grid(
            pd.DataFrame({"k": [1, 1, 5, 5], "seed": [0, 1, 0, 1], "test_acc": [1, 2, 3, 4]}), "k", "acc", "grid"
        ),
        tmp_path,
        "grid",
    )
    assert [p.name for p in paths] == ["grid.png", "grid.pdf"]
    pdf = (tmp_path / "grid.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf  # TrueType embedded (pdf.fonttype 42)
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    save(
        figures.grid(
            pd.DataFrame({"k": [1, 1, 5, 5], "seed": [0, 1, 0, 1], "test_acc": [1, 2, 3, 4]}), "k", "acc", "grid"
        ),
        tmp_path / "again",
        "grid",
    )
    assert (tmp_path / "again" / "grid.pdf").read_bytes() == pdf  # no creation date: the same bytes


@pytest.mark.parametrize("states", [["COMPLETE"] * 5, ["COMPLETE", "PRUNED"]])
def test_contour_and_fidelity_draw_with_few_or_many_points(states):
    n = len(states)
    trials = pd.DataFrame({"state": states, "objective": range(n), "param:a": range(n), "param:b": [1, 3, 2, 5, 4][:n]})
    assert figures.contour(trials, "a", "b", "c").axes
    runs = pd.DataFrame({"run": ["kd", "annealing"], "test_agreement": [90.0, 95.0], "test_acc": [80.0, 82.0]})
    ax = figures.fidelity(runs, "acc", "f").axes[0]
    assert [list(c.get_offsets()[0]) for c in ax.collections] == [[90.0, 80.0], [95.0, 82.0]]
