"""The figure style (akd.report.style): venue widths in the written PDF, embedded TrueType fonts,
repeatable bytes, atomic writes under unique temporary names, and a palette that survives
colour-vision deficiency."""

from __future__ import annotations

import itertools
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from akd.report import figures
from akd.report.style import COLORS, LINESTYLES, MARKERS, Style, save, set_caption

# the venues' widths in inches, from their style files (ACL: A4, 2.5 cm margins, 0.6 cm column gap)
WIDTHS = {"icml": (3.25, 6.75), "neurips": (2.75, 5.5), "acl": (7.7 / 2.54, 16.0 / 2.54)}
CVD = ("deuteranomaly", "protanomaly", "tritanomaly")
MIN_DISTANCE = 20.0  # CAM02-UCS; about 1 is a just-noticeable difference
# The six original looks (teacher, TA, No-KD, KD, TAKD, Annealing-KD) keep 20 apart; with the four
# later methods added, the best four of 40 Okabe-Ito and Tol colours (exhaustive search, the six
# fixed, lightness J < 80 to show on white) reach 14.3 under the worst deficiency: the ceiling for
# ten colours here. Markers and line styles tell every method apart without colour.
CORE = ("teacher", "ta", "nokd", "kd", "takd", "annealing")
MIN_DISTANCE_ALL = 14.0


def _media_box(pdf: bytes) -> tuple[float, float]:
    match = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    assert match, "no MediaBox"
    return float(match.group(1)) / 72, float(match.group(2)) / 72


def _figure(style: Style, column: str) -> Figure:
    fig, ax = style.subplots(column)
    ax.plot([1, 2, 3], [3, 1, 2])
    ax.set_xlabel(r"$\tau_{\max}$ with a long label that constrained layout must fit inside the page")
    ax.set_ylabel("test accuracy (%)")
    return set_caption(fig, "a caption")


@pytest.mark.parametrize("venue", sorted(WIDTHS))
@pytest.mark.parametrize("column", ["one", "two"])
def test_pdf_width_is_the_venue_width(tmp_path, venue, column):
    style = Style(venue)
    expected = WIDTHS[venue][0 if column == "one" else 1]
    assert style.width(column) == pytest.approx(expected, rel=1e-3)
    save(_figure(style, column), tmp_path, "f")
    width, height = _media_box((tmp_path / "f.pdf").read_bytes())
    assert width == pytest.approx(expected, rel=0.01)  # no tight bounding box
    assert 0 < height < 10


def test_the_suites_figures_keep_their_width_when_written(tmp_path):
    save(figures.schedule(2, 4, 2), tmp_path, "schedule")
    assert _media_box((tmp_path / "schedule.pdf").read_bytes())[0] == pytest.approx(3.25, rel=0.01)


@pytest.mark.parametrize("serif, face", [(True, b"STIXGeneral"), (False, b"DejaVuSans")])
def test_fonts_are_embedded_truetype_never_type3(tmp_path, serif, face):
    save(_figure(Style("icml", serif=serif), "one"), tmp_path, "f")
    pdf = (tmp_path / "f.pdf").read_bytes()
    assert b"/FontFile2" in pdf  # TrueType programs embedded (pdf.fonttype 42)
    assert b"/Type3" not in pdf and b"/Subtype /Type3" not in pdf
    fonts = re.findall(rb"/BaseFont /([A-Z]{6}\+)?([\w-]+)", pdf)
    assert any(name.startswith(face) for _, name in fonts), fonts
    assert b"CreationDate" not in pdf


def test_files_are_png_pdf_and_caption_repeatable(tmp_path):
    paths = save(_figure(Style(), "one"), tmp_path, "f")
    assert [p.name for p in paths] == ["f.png", "f.pdf", "f.caption.txt"]
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "f.caption.txt").read_text() == "a caption\n"
    first = (tmp_path / "f.pdf").read_bytes()
    save(_figure(Style(), "one"), tmp_path / "again", "f")
    assert (tmp_path / "again" / "f.pdf").read_bytes() == first  # the same bytes
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["f.caption.txt", "f.pdf", "f.png"]


def test_writes_go_through_unique_temporary_names(tmp_path, monkeypatch):
    names = []
    original = Figure.savefig

    def spy(self, fname, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        names.append(str(fname))
        return original(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    save(_figure(Style(), "one"), tmp_path, "same")
    save(_figure(Style(), "one"), tmp_path, "same")  # a second writer of the same figure
    assert len(names) == 4 and len(set(names)) == 4  # never a shared (fixed) temporary name
    assert all(re.fullmatch(r".*/\.same\.(png|pdf)\.[0-9a-f]{16}\.tmp", name) for name in names), names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.caption.txt", "same.pdf", "same.png"]
    plt.close("all")


def _simulate(colors: np.ndarray, kind: str | None) -> np.ndarray:
    colorspacious = pytest.importorskip("colorspacious")  # the dev extra
    if kind is None:
        return colors
    space = {"name": "sRGB1+CVD", "cvd_type": kind, "severity": 100}
    return np.clip(colorspacious.cspace_convert(colors, space, "sRGB1"), 0, 1)


def min_distance(palette: dict[str, str], kind: str | None) -> tuple[float, tuple[str, str]]:
    """The smallest CAM02-UCS distance between two methods' colours, as seen with ``kind`` of CVD."""
    colorspacious = pytest.importorskip("colorspacious")
    names = list(palette)
    rgb = np.array([[int(palette[n][i : i + 2], 16) / 255 for i in (1, 3, 5)] for n in names])
    ucs = colorspacious.cspace_convert(_simulate(rgb, kind), "sRGB1", "CAM02-UCS")
    return min(
        (float(np.linalg.norm(ucs[i] - ucs[j])), (names[i], names[j]))
        for i, j in itertools.combinations(range(len(names)), 2)
    )


@pytest.mark.parametrize("kind", [None, *CVD])
def test_every_pair_of_methods_stays_distinct_under_colour_vision_deficiency(kind):
    distance, pair = min_distance({m: COLORS[m] for m in CORE}, kind)
    assert distance >= MIN_DISTANCE, f"{pair} only {distance:.1f} apart under {kind or 'normal vision'}"
    builtin = [*CORE, "ctkd", "dkd", "dist", "mse_logit"]
    distance, pair = min_distance({m: COLORS[m] for m in builtin}, kind)
    assert distance >= MIN_DISTANCE_ALL, f"{pair} only {distance:.1f} apart under {kind or 'normal vision'}"


def test_each_method_has_its_own_marker_and_line_style():
    assert set(MARKERS) == set(LINESTYLES) == set(COLORS)
    assert len(set(MARKERS.values())) == len(MARKERS)
    assert len({str(v) for v in LINESTYLES.values()}) == len(LINESTYLES)


def test_an_unknown_venue_or_column_is_refused():
    with pytest.raises(ValueError, match="unknown venue"):
        Style("cvpr")
    with pytest.raises(ValueError, match="column"):
        Style().width("three")


def test_optuna_figures_in_the_house_style_with_a_caption(tmp_path, monkeypatch):
    """Optuna draws in ggplot with a large title: redrawn without it (the caption says what it is, from
    how many trials on which seeds), on white, value labels inside the axes."""
    import optuna

    import akd.sweep.figures as sweep_figures

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("optim.lr", 0.01, 1) * 10 + t.suggest_float("kd.w_kd", 0, 1), 6)
    saved = {}
    save = sweep_figures._save
    monkeypatch.setattr(
        sweep_figures, "_save", lambda fig, folder, name: saved.update({name: fig}) or save(fig, folder, name)
    )
    sweep_figures.study_figures(study, tmp_path, "acc", [100])
    assert set(saved) == {"history", "importances"}
    for name, fig in saved.items():
        ax = fig.axes[0]
        assert [ax.get_title(loc=loc) for loc in ("left", "center", "right")] == ["", "", ""], name
        assert ax.get_facecolor()[:3] == (1.0, 1.0, 1.0) and fig._suptitle is None
        caption = (tmp_path / f"{name}.caption.txt").read_text()
        assert "6 complete trials" in caption and "validation acc (%) on seed 100" in caption, caption
    bars = saved["importances"].axes[0]
    assert max(t.get_position()[0] for t in bars.texts) < bars.get_xlim()[1]  # every value label inside
    plt.close("all")
