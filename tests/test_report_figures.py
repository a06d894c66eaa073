"""Analysis figures (akd.report.figures*): structure read back from the matplotlib objects, not pixels.

Every figure: numeric parameters on numeric axes in numeric order, every band and interval named
in a legend or the caption, accuracy and correlation never on one axis, budgets marked where
they differ, every text inside the figure and at least 6 pt, a caption that names the interval
and n.
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.patches import Polygon, Rectangle
from matplotlib.text import Text

from akd.report import figures, figures_results, figures_sweep
from akd.report.style import COLORS, DEFAULT, Style, caption
from akd.stats import family, mean_interval

KINDS = {"accuracy": ("accuracy", "F1"), "correlation": ("Pearson", "Spearman", "Matthews")}


def _runs() -> pd.DataFrame:
    """Two variants of one benchmark (equal 10 epochs; unequal: Annealing-KD 20) and a regression task."""
    rows = []
    rng = np.random.default_rng(0)
    for variant, epochs in (
        ("equal", {"nokd": 10, "kd": 10, "takd": 10, "annealing": 10}),
        ("unequal", {"nokd": 10, "kd": 10, "takd": 10, "annealing": 20}),
    ):
        for method, base in (("nokd", 80.0), ("kd", 81.0), ("takd", 80.5), ("annealing", 82.0), ("teacher", 90.0)):
            for seed in range(1 if method == "teacher" else 3):
                rows.append(
                    {
                        "benchmark": "bench",
                        "variant": variant,
                        "dataset": "bench",
                        "run": method,
                        "seed": seed,
                        "metric": "acc",
                        "epochs": epochs.get(method, 15),
                        "test_acc": base + rng.normal(),
                        "test_agreement": 90 + rng.normal(),
                    }
                )
    for method in ("nokd", "kd", "annealing"):
        for seed in range(3):
            rows.append(
                {
                    "benchmark": "glue",
                    "variant": "cpu",
                    "dataset": "sts",
                    "run": method,
                    "seed": seed,
                    "metric": "pearson",
                    "epochs": 4,
                    "test_pearson": 60 + rng.normal(),
                }
            )
    return pd.DataFrame(rows)


def _curves() -> pd.DataFrame:
    rows = []
    for method, base, steps in (("nokd", 80.0, 4), ("annealing", 82.0, 6)):
        for seed in range(3):
            for step in range(steps):
                phase = 2 if method == "annealing" and step >= 3 else 1
                rows.append({"run": method, "seed": seed, "step": step, "val_acc": base + step + seed, "phase": phase})
    return pd.DataFrame(rows)


def _pairs(runs: pd.DataFrame) -> list:
    out = []
    for (bench, variant, dataset), part in runs.groupby(["benchmark", "variant", "dataset"]):
        metric = part["metric"].iloc[0]
        by = {m: dict(zip(g["seed"], g[f"test_{metric}"], strict=True)) for m, g in part.groupby("run")}
        fam = family(by["annealing"], {m: by[m] for m in ("nokd", "kd", "takd") if m in by}, metric)
        for baseline, p in fam.items():
            flags = "unequal budget: Annealing-KD 20 epochs, No-KD 10" if variant == "unequal" else ""
            out.append(
                (
                    {
                        "benchmark": bench,
                        "variant": variant,
                        "dataset": dataset,
                        "baseline": baseline,
                        "metric": metric,
                        "flags": flags,
                    },
                    p,
                )
            )
    return out


def _grid() -> pd.DataFrame:  # read from a CSV in this order: 1, 10, 2, 5 (a string sort's order)
    return pd.DataFrame(
        {
            "annealing.tau_max": [1, 1, 10, 10, 2, 2, 5, 5],
            "seed": [0, 1] * 4,
            "test_acc": [80.0, 81.0, 86.0, 87.0, 84.0, 85.0, 85.5, 86.0],
        }
    )


def _trials() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "state": ["COMPLETE"] * 4 + ["PRUNED"],
            "objective": [80.0, 85.0, 86.0, 87.0, 10.0],
            "param:annealing.tau_max": [1, 4, 8, 8, 2],
            "param:annealing.phase1_epochs": [9, 11, 16, 16, 9],
            "param:annealing.phase2_epochs": [1, 6, 9, 10, 1],
            "val_acc_best_seed0": [80.0] * 5,
        }
    )


def all_figures() -> dict[str, plt.Figure]:
    runs = _runs()
    reference = runs[(runs["variant"] == "equal")]
    return {
        "schedule": figures.schedule(2, 4, 2),
        "curves": figures.curves(_curves(), "acc", "t", epochs={"nokd": 4, "annealing": 6}),
        "fidelity": figures.fidelity(runs[runs["variant"] == "unequal"], "acc", "f"),
        "main": figures_results.main_result(runs, "bench", "bench"),
        "main_corr": figures_results.main_result(runs, "glue", "sts"),
        "budget": figures_results.budget(runs, "bench", "bench"),
        "forest": figures_results.forest(_pairs(runs), runs=runs),
        "grid": figures_sweep.grid(
            _grid(),
            "annealing.tau_max",
            "acc",
            "g",
            reference=reference,
            reference_variant="equal",
            annealing_epochs=10,
        ),
        "trials": figures_sweep.trials(_trials(), "s"),
    }


@pytest.fixture(scope="module")
def drawn():
    figs = all_figures()
    for fig in figs.values():
        fig.canvas.draw()
    yield figs
    plt.close("all")


def test_schedule_draws_T_and_Phi_as_steps():
    top, bottom = figures.schedule(tau_max=2, phase1_epochs=4, phase2_epochs=2).axes
    t, phi = top.lines[0], bottom.lines[0]
    assert t.get_drawstyle() == phi.get_drawstyle() == "steps-post"  # constant within an epoch
    assert list(t.get_xdata()) == [0, 1, 2, 3, 4]
    assert list(t.get_ydata()) == [2, 2, 1, 1, 1]  # T drops by one every 4 // 2 epochs
    assert list(phi.get_ydata()) == [0.5, 0.5, 1.0, 1.0, 1.0]  # Phi = 1 - (T - 1) / tau_max
    assert "Phi" in bottom.get_ylabel() and "tau" in top.get_title()  # symbols, not words


def test_curves_mean_t_band_phase_boundary_and_budgets_in_the_legend():
    fig = figures.curves(_curves(), "acc", "t", epochs={"nokd": 4, "annealing": 6})
    ax = fig.axes[0]
    nokd = ax.lines[0]
    assert list(nokd.get_xdata()) == [1, 2, 3, 4] and list(nokd.get_ydata()) == [81.0, 82.0, 83.0, 84.0]
    band = next(c for c in ax.collections if isinstance(c, PolyCollection))
    top = band.get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(sum(mean_interval([83.0, 84.0, 85.0])))  # mean + t half-width at epoch 4
    assert any(list(line.get_xdata()) == [3.5, 3.5] for line in ax.lines)  # phase 2 starts after epoch 3
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "No-KD (4 ep)" in labels and "Annealing-KD (6 ep)" in labels and "unequal" in ax.get_title()
    assert any("95 % t interval, n = 3" in label for label in labels)


def test_main_result_per_seed_dots_mean_interval_and_budget_marks():
    fig = figures_results.main_result(_runs(), "bench", "bench")
    equal, unequal = fig.axes
    assert "10 epochs each" in equal.get_title() and "unequal" in unequal.get_title()
    assert "Annealing-KD 20 ep" in unequal.get_title()
    assert len([line for line in equal.lines if line.get_gid() == "seeds"]) == 4  # one row of dots per method
    assert all(len(line.get_xdata()) == 3 for line in equal.lines if line.get_gid() == "seeds")
    assert "95 % Student t interval" in caption(fig) and "n = 3" in caption(fig)


def test_budget_axis_is_numeric_and_counts_shared_runs_once():
    runs = _runs()
    twice = pd.concat([runs, runs[runs["variant"] == "equal"].assign(variant="copy")])
    ax = figures_results.budget(twice, "bench", "bench").axes[0]
    assert [float(t) for t in ax.get_xticks()] == [10.0, 20.0]
    seeds = [line for line in ax.lines if line.get_gid() == "seeds"]
    assert all(len(line.get_xdata()) == 3 for line in seeds)  # the copied variant adds no fourth seed


def test_forest_numbers_column_dagger_and_one_metric_per_axis():
    runs = _runs()
    pairs = _pairs(runs)
    fig = figures_results.forest(pairs, runs=runs)
    assert fig.get_figwidth() == pytest.approx(DEFAULT.width("two"))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    p = pairs[0][1]
    assert f"{p.p_adjusted:.3f}" in texts and "95 % t interval" in texts and "Holm p" in texts and "n" in texts
    assert "20 / 10" in texts  # the epochs column
    legend = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "† hollow: unequal epoch budgets" in legend
    assert any("†" in t.get_text() for ax in fig.axes for t in ax.get_yticklabels())
    for ax in [a for a in fig.axes if a.get_yticklabels()]:  # budget-matched rows on top, unequal ones below
        daggers = ["†" in t.get_text() for t in ax.get_yticklabels()]  # bottom to top
        assert daggers == sorted(daggers, reverse=True)


def test_accuracy_and_correlation_never_share_an_axis():
    runs = _runs()
    pairs = _pairs(runs)
    fig = figures_results.forest(pairs, runs=runs)
    kind_of_row = {figures_results._row_label(i): figures.metric_kind(i["metric"]) for i, _ in pairs}
    panels = [ax for ax in fig.axes if ax.get_yticklabels() and ax.get_xlabel()]
    assert panels
    for ax in panels:
        rows = [t.get_text().rstrip(" †‡") for t in ax.get_yticklabels()]
        assert len({kind_of_row[r] for r in rows}) == 1, rows


def test_numeric_grid_axis_is_sorted_numerically():
    fig = figures_sweep.grid(_grid(), "annealing.tau_max", "acc", "g")
    ax = fig.axes[0]
    mean = next(line for line in ax.lines if line.get_gid() == "mean")
    x = [float(v) for v in mean.get_xdata()]
    assert x == sorted(x) == [1.0, 2.0, 5.0, 10.0]  # numeric order, at the values themselves
    assert list(mean.get_ydata()) == [80.5, 84.5, 85.75, 86.5]
    ticks = [float(t) for t in ax.get_xticks()]
    assert ticks == sorted(ticks) and ax.xaxis.get_converter() is None  # a numeric axis, not categories
    assert "tau" in ax.get_xlabel()


def test_tau_max_reference_bands_are_the_baselines_mean_and_t_interval():
    runs = _runs()
    reference = runs[runs["variant"] == "equal"]
    fig = figures_sweep.grid(
        _grid(), "annealing.tau_max", "acc", "g", reference=reference, reference_variant="equal", annealing_epochs=10
    )
    ax = fig.axes[0]
    spans = [p for p in ax.patches if (p.get_gid() or "").startswith(figures.EXPLAINED)]
    assert len(spans) == 3  # No-KD, KD, TAKD
    kd = reference[reference["run"] == "kd"]["test_acc"]
    mean, half = mean_interval(kd)
    kd_span = next(p for p in spans if p.get_facecolor()[:3] == to_rgb(COLORS["kd"]))
    ys = [kd_span.get_y(), kd_span.get_y() + kd_span.get_height()]  # y in data units (x spans the axes)
    assert min(ys) == pytest.approx(mean - half) and max(ys) == pytest.approx(mean + half)
    assert "the same epoch budget" in caption(fig)


def test_trials_are_points_with_their_phase_two_length_not_a_contour():
    fig = figures_sweep.trials(_trials(), "s")
    left, right = fig.axes[:2]
    assert not any(type(c).__name__ == "QuadContourSet" or "Contour" in type(c).__name__ for c in left.collections)
    offsets = left.collections[0].get_offsets()
    # PRUNED left out; the second trial at (8, 16) beside the first (x moved by 4 % of the tau_max range), not under it
    flat = [float(v) for o in offsets for v in o]
    assert flat == pytest.approx([1, 9, 4, 11, 8, 16, 8.28, 16])
    assert sorted(t.get_text() for t in left.texts) == ["+1", "+10", "+6", "+9"]
    assert [float(o[0]) for o in right.collections[0].get_offsets()] == [10, 17, 25, 26]  # total epochs
    assert "single seed" in caption(fig)
    with pytest.raises(ValueError, match="no completed trial"):
        figures_sweep.trials(_trials().assign(state="FAIL"), "s")


def _bands_and_intervals(fig: plt.Figure) -> list:
    found = []
    for ax in fig.axes:
        if hasattr(ax, "_colorbar"):
            continue
        found += [c for c in ax.collections if isinstance(c, (PolyCollection, LineCollection))]
        found += [p for p in ax.patches if isinstance(p, (Rectangle, Polygon))]
    return found


def test_every_band_and_interval_is_named_in_a_legend_or_the_caption(drawn):
    for name, fig in drawn.items():
        words = [caption(fig)] + [t.get_text() for t in fig.findobj(Text)]
        for artist in _bands_and_intervals(fig):
            gid = artist.get_gid() or ""
            assert gid.startswith(figures.EXPLAINED), f"{name}: an unlabelled {type(artist).__name__}"
            text = gid.removeprefix(figures.EXPLAINED)
            assert any(text in w for w in words), f"{name}: {text!r} is in no legend, text or caption"


def _drawn_texts(fig: plt.Figure) -> list[Text]:
    """Every visible, non-empty text that is drawn: tick labels only of ticks inside the axis' view."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - 1e-9 * abs(high - low) <= tick.get_loc() <= high + 1e-9 * abs(high - low):
                    hidden |= {id(tick.label1), id(tick.label2)}
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in hidden]


def test_every_text_fits_inside_the_figure_and_is_at_least_6_pt(drawn):
    for name, fig in drawn.items():
        renderer = fig.canvas.get_renderer()
        box = fig.bbox
        for text in _drawn_texts(fig):
            assert text.get_fontsize() >= 6, f"{name}: {text.get_text()!r} at {text.get_fontsize()} pt"
            extent = text.get_window_extent(renderer)
            assert extent.x0 >= box.x0 - 1 and extent.x1 <= box.x1 + 1, f"{name}: {text.get_text()!r} cut off"
            assert extent.y0 >= box.y0 - 1 and extent.y1 <= box.y1 + 1, f"{name}: {text.get_text()!r} cut off"


def test_no_two_texts_overlap(drawn):
    for name, fig in drawn.items():
        renderer = fig.canvas.get_renderer()
        boxes = [(t.get_text(), t.get_window_extent(renderer).padded(-0.5)) for t in _drawn_texts(fig)]
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
            assert not box_a.overlaps(box_b), f"{name}: {a!r} overlaps {b!r}"


def test_every_figure_has_a_caption_naming_its_interval_or_saying_it_has_none(drawn):
    for name, fig in drawn.items():
        text = caption(fig)
        assert text, name
        assert "$" not in text and "\\" not in text, name  # plain text, no mathtext
        if name not in ("schedule", "trials"):
            assert "95 %" in text and "t interval" in text and "n = " in text, name


@pytest.mark.parametrize("venue", ["icml", "neurips", "acl"])
def test_figures_take_the_venues_widths(venue):
    style = Style(venue)
    assert figures.schedule(2, 4, 2, style=style).get_figwidth() == pytest.approx(style.width("one"))
    assert figures_results.forest(_pairs(_runs()), style=style).get_figwidth() == pytest.approx(style.width("two"))
    plt.close("all")


def test_panels_that_ran_other_methods_put_each_method_on_its_own_row():
    """Variants with different method lists share the y axis: a method's seeds sit on its label's row
    in every panel, and a method a variant did not run leaves its row empty there."""
    from matplotlib.colors import to_hex

    runs = _runs()
    extra = runs[(runs["variant"] == "unequal") & (runs["run"] == "kd")].assign(run="dkd", test_acc=70.0)
    fig = figures_results.main_result(pd.concat([runs, extra]), "bench", "bench")
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(panels) == 2
    rows = {t.get_text(): t.get_position()[1] for t in panels[0].get_yticklabels()}  # the shared y axis
    seen = []
    for ax in panels:
        for line in ax.lines:
            if line.get_gid() != "seeds":
                continue
            method = next(
                m
                for m in ("nokd", "kd", "takd", "annealing", "dkd")
                if to_hex(COLORS[m]) == to_hex(line.get_markeredgecolor())
            )
            label = {"nokd": "No-KD", "kd": "KD", "takd": "TAKD", "annealing": "Annealing-KD", "dkd": "DKD"}[method]
            assert abs(float(np.median(line.get_ydata())) - rows[label]) < 0.5, (method, rows)
            seen.append((ax, method))
    assert (panels[0], "dkd") not in seen and (panels[1], "dkd") in seen  # the equal variant did not run DKD
