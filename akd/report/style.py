"""One figure style for the suite: venue sizes and fonts (tueplots), method colours and markers, PNG + PDF.

**Sizes.** A figure is as wide as one column or the whole text of the venue it is made for, taken
from tueplots (ICML 2024: 3.25 / 6.75 in; NeurIPS 2024, a one-column format: half the text width
2.75 in and the text width 5.5 in) or from the venue's style file where tueplots has none (ACL:
``acl.sty`` sets A4 with 2.5 cm margins and a 0.6 cm column gap: 7.7 / 16.0 cm). The PDF's page is
exactly that width: no tight bounding box, constrained layout fits the labels inside it.

**Fonts.** The venue's tueplots font bundle with ``usetex=False`` (Times text, Computer Modern
math, as ``\\usepackage{times}`` gives), with the Times-like STIXGeneral (shipped with matplotlib,
so every machine draws the same glyphs) first in the list; ``serif=False`` gives DejaVu Sans.
PDFs embed TrueType (``pdf.fonttype`` 42, no Type 3) and carry no creation date, so the same
figure gives the same bytes (matplotlib also honours ``SOURCE_DATE_EPOCH``).

**Methods.** Each method has one colour, marker and line style in every figure. The colours are
chosen so that every pair stays apart under simulated deuteranopia, protanopia and tritanopia
(full severity, Machado et al. 2009 via colorspacious): among the teacher, TA, No-KD, KD, TAKD and
Annealing-KD the smallest pairwise CAM02-UCS distance is 23.5 (the test requires >= 20 under each);
with CTKD, DKD, DIST and MSE-logit added it is 14.3, the best ten colours of the Okabe-Ito and Tol
sets reach with those six fixed (the test requires >= 14). Marker and line style tell every method
apart without any colour.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tueplots import bundles, fonts  # noqa: E402

from akd.hashing import temp_beside  # noqa: E402
from akd.methods import Looks  # noqa: E402

CM_PER_INCH = 2.54
# (one column, two columns or the whole text) in inches, and the base font size in points
# (the caption size less one, as tueplots does)
VENUES = {
    "icml": {"name": "ICML 2024", "base": 8},
    "neurips": {"name": "NeurIPS 2024", "base": 9},
    "acl": {"name": "ACL (acl.sty)", "base": 9, "widths": (7.7 / CM_PER_INCH, 16.0 / CM_PER_INCH)},
}
COLUMNS = ("one", "two")
SERIF = ["STIXGeneral"]  # Times-like, TrueType, in matplotlib's own font folder
SANS = ["DejaVu Sans"]  # likewise

# Each method's colour (Okabe-Ito and Paul Tol), marker and line style come from its spec
# (akd.methods); the roles' from akd.methods.ROLES. See the module docstring for the colour-vision check.
COLORS = Looks("color")
MARKERS = Looks("marker")
LINESTYLES = Looks("linestyle")

_CAPTION = "akd_caption"
_RC = "akd_rc"


def method_style(method: str) -> dict:
    """``color``, ``marker`` and ``linestyle`` of one method (keyword arguments for ``plot``)."""
    return {"color": COLORS[method], "marker": MARKERS[method], "linestyle": LINESTYLES[method]}


@dataclass(frozen=True)
class Style:
    """Where the figures go: ``venue`` (icml, neurips, acl) and a serif or sans-serif face."""

    venue: str = "icml"
    serif: bool = True

    def __post_init__(self) -> None:
        if self.venue not in VENUES:
            raise ValueError(f"unknown venue {self.venue!r}; choose one of {', '.join(VENUES)}")

    @property
    def name(self) -> str:
        return VENUES[self.venue]["name"]

    def width(self, column: str = "one") -> float:
        """The figure width in inches: one column (``one``) or the whole text (``two``)."""
        if column not in COLUMNS:
            raise ValueError(f"column must be one of {COLUMNS}, not {column!r}")
        venue = VENUES[self.venue]
        if "widths" in venue:
            return venue["widths"][COLUMNS.index(column)]
        return self._bundle(column)["figure.figsize"][0]

    def _bundle(self, column: str) -> dict:
        family = "serif" if self.serif else "sans-serif"
        if self.venue == "icml":
            return bundles.icml2024(column="half" if column == "one" else "full", usetex=False, family=family)
        if self.venue == "neurips":  # one column of text: "one" is half its width (two figures side by side)
            return bundles.neurips2024(rel_width=0.5 if column == "one" else 1.0, usetex=False, family=family)
        return {**fonts.icml2024(family=family), "figure.constrained_layout.use": True}  # ACL: Times as well

    def rc(self) -> dict:
        """matplotlib settings: the venue's fonts and sizes, embedded TrueType, the suite's look (any column)."""
        base = VENUES[self.venue]["base"]
        rc = {k: v for k, v in self._bundle("one").items() if not k.startswith(("figure.figsize", "savefig.pad"))}
        rc.update(
            {
                "font.serif": SERIF + list(rc.get("font.serif", [])),
                "font.sans-serif": SANS + list(rc.get("font.sans-serif", [])),
                "mathtext.fontset": "cm" if self.serif else "dejavusans",
                "font.size": base,
                "axes.labelsize": base,
                "axes.titlesize": base,
                "legend.fontsize": base - 1,
                "legend.title_fontsize": base - 1,
                "xtick.labelsize": base - 1,
                "ytick.labelsize": base - 1,
                "figure.constrained_layout.use": True,
                "pdf.fonttype": 42,
                "ps.fonttype": 42,
                "axes.spines.top": False,
                "axes.spines.right": False,
                "axes.grid": True,
                "grid.alpha": 0.3,
                "grid.linewidth": 0.5,
                "axes.linewidth": 0.6,
                "lines.linewidth": 1.2,
                "lines.markersize": 4,
                "legend.frameon": False,
                "legend.handlelength": 2.2,
                "figure.dpi": 150,
                "savefig.dpi": 300,
            }
        )
        return rc

    def subplots(self, column: str = "one", height: float | None = None, **kwargs) -> tuple[plt.Figure, object]:
        """``plt.subplots`` at the venue's width (``height`` in inches, golden ratio by default)."""
        width = self.width(column)
        height = height if height is not None else width * (0.62 if column == "one" else 0.34)
        rc = self.rc()
        with plt.rc_context(rc):
            fig, axes = plt.subplots(figsize=(width, height), layout="constrained", **kwargs)
        setattr(fig, _RC, rc)
        return fig, axes

    def figure(self, column: str = "one", height: float | None = None) -> plt.Figure:
        """An empty figure at the venue's width (for grid specs)."""
        width = self.width(column)
        rc = self.rc()
        with plt.rc_context(rc):
            fig = plt.figure(figsize=(width, height or width * 0.4), layout="constrained")
        setattr(fig, _RC, rc)
        return fig


DEFAULT = Style()
# for figures drawn outside :class:`Style` (akd.sweep.figures: Optuna's plots): the default venue's settings and sizes
STYLE = DEFAULT.rc()
ONE_COLUMN = (DEFAULT.width("one"), DEFAULT.width("one") * 0.75)
TWO_COLUMN = (DEFAULT.width("two"), DEFAULT.width("two") * 0.38)


def styled(draw):  # noqa: ANN001, ANN201 - a decorator
    """Run a figure function inside its style's settings (its ``style`` argument, else :data:`DEFAULT`), so
    every title, legend and annotation it adds gets the venue's fonts and sizes."""
    signature = inspect.signature(draw)

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        bound = signature.bind(*args, **kwargs)
        style = bound.arguments.get("style", DEFAULT)
        with plt.rc_context(style.rc()):
            return draw(*args, **kwargs)

    return wrapper


def drawing(fig: plt.Figure):  # noqa: ANN201 - a context manager
    """The settings a figure was made with (ticks and labels are drawn lazily: keep them at save)."""
    return plt.rc_context(getattr(fig, _RC, None) or DEFAULT.rc())


_PLAIN = {r"$\tau_{\max}$": "τ_max", r"$\Phi$": "Φ", r"$\times$": "×", r"$\rho$": "ρ", "$r$": "r", "$T$": "T"}


def plain(text: str) -> str:
    """Mathtext as plain Unicode (captions are text): ``$\\tau_{\\max}$`` -> ``τ_max``."""
    for tex, uni in _PLAIN.items():
        text = text.replace(tex, uni)
    return re.sub(r"\$([^$]*)\$", r"\1", text)


def set_caption(fig: plt.Figure, text: str) -> plt.Figure:
    """Attach the caption that :func:`save` writes beside the figure (mathtext written out as Unicode)."""
    setattr(fig, _CAPTION, " ".join(plain(text).split()))
    return fig


def caption(fig: plt.Figure) -> str:
    return getattr(fig, _CAPTION, "")


def _atomic(path: Path, write) -> None:  # noqa: ANN001
    """Write through a temporary file of a unique name in the same folder, then rename it into place."""
    tmp, fd = temp_beside(path)  # unique across processes and hosts
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(fig: plt.Figure, folder: Path, name: str) -> list[Path]:
    """``name.png``, ``name.pdf`` and (if it has one) ``name.caption.txt`` in ``folder``, each written whole.

    The page is the figure's size (no tight bounding box); the PDF has no creation date.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None:  # drawn elsewhere (Optuna): fit its labels inside its own width
        fig.set_layout_engine("constrained")
    paths = []
    with drawing(fig):  # font embedding and lazily drawn ticks read the settings when saving
        for ext in ("png", "pdf"):
            path = folder / f"{name}.{ext}"
            meta = {"CreationDate": None} if ext == "pdf" else None
            _atomic(path, lambda tmp, ext=ext, meta=meta: fig.savefig(tmp, format=ext, metadata=meta))
            paths.append(path)
    text = caption(fig)
    if text:
        path = folder / f"{name}.caption.txt"
        _atomic(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
        paths.append(path)
    plt.close(fig)
    return paths
