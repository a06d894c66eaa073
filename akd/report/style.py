"""One figure style for the suite: paper sizes, embedded fonts, fixed method colours, PNG + PDF.

Sizes fit a two-column paper (one column 3.4 in, both 7.0 in). PDFs embed TrueType fonts
(``pdf.fonttype`` 42, as camera-ready checks demand) and carry no creation date, so the same
figure gives the same bytes. Every method has one colour in every figure (colour-blind palette).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 150,
    "savefig.dpi": 300,
}
ONE_COLUMN = (3.4, 2.5)
TWO_COLUMN = (7.0, 2.6)
# seaborn's colour-blind palette, one colour per run name
COLORS = {
    "teacher": "#949494",
    "ta": "#ca9161",
    "nokd": "#0173b2",
    "kd": "#de8f05",
    "takd": "#029e73",
    "annealing": "#d55e00",
}


def save(fig: plt.Figure, folder: Path, name: str) -> list[Path]:
    """``name.png`` and ``name.pdf`` in ``folder``, each written whole (a temporary file, renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with plt.rc_context(STYLE):  # font embedding is read when saving, not when drawing
        for ext in ("png", "pdf"):
            path = folder / f"{name}.{ext}"
            tmp = path.with_name(f".{path.name}.tmp")
            meta = {"CreationDate": None} if ext == "pdf" else None
            fig.savefig(tmp, format=ext, bbox_inches="tight", metadata=meta)
            tmp.replace(path)
            paths.append(path)
    plt.close(fig)
    return paths
