"""LaTeX that drops into a paper as it is: escaped text, booktabs floats sized to fit, and a compile check.

**What a document needs** to ``\\input`` the suite's tables: ``\\usepackage{booktabs}``, nothing
else. The tables use only the LaTeX kernel beside it: ``table`` / ``table*`` floats, ``\\small``
and ``\\footnotesize``, ``$\\pm$``, ``$-$`` (a true minus), ``$^\\dagger$``; no ``graphicx``
(``\\resizebox``), no ``rotating``, no ``threeparttable``, no ``fontenc`` or ``inputenc`` options.

**Widths.** A ``table`` float fits one column of a two-column venue (:data:`COLUMN_IN`, 3.25 in:
ICML, ACL, EACL); a ``table*`` float fits the full text width (:data:`PAGE_IN`, 6.75 in: ICML's;
also inside the 7 in the brief allows). :func:`table` picks the float and, where needed, a smaller
font size from an estimate of the widest cell per column; :func:`compile_tex` checks the result
with ``pdflatex`` at exactly that width and fails on any overfull box or a float taller than the
page, so the estimate is never trusted alone.

**Text.** :func:`escape` turns plain (Unicode) text into LaTeX that compiles under plain
``pdflatex``: the ten special characters, a true minus for U+2212 and for the hyphen-minus that
leads a number (``-0.53`` -> ``$-$0.53``), and the symbols the suite prints (±, —, –, ‖, τ, Φ, ×,
†, ‡, ≥, ≤, →, …, quotes). Other non-ASCII letters are left as they are (LaTeX reads UTF-8).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

COLUMN_IN = 3.25  # one column of a two-column venue
PAGE_IN = 6.75  # the full text width (table*)
PAGE_HEIGHT_IN = 9.0
PREAMBLE = r"\usepackage{booktabs}"  # everything a paper must add for these tables

_CHARS = {
    "\\": r"\textbackslash{}",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "$": r"\$",
    "<": r"\textless{}",  # OT1 fonts print < and > as inverted marks
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    '"': "''",
    "\u2212": "$-$",  # minus sign
    "±": r"$\pm$",
    "—": "---",
    "–": "--",
    "‖": r"$\|$",
    "τ": r"$\tau$",
    "Φ": r"$\Phi$",
    "×": r"$\times$",
    "†": r"$^\dagger$",
    "‡": r"$^\ddagger$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "≈": r"$\approx$",
    "→": r"$\rightarrow$",
    "…": r"\ldots{}",
    "“": "``",
    "”": "''",
    "‘": "`",
    "’": "'",
    "\u00a0": "~",
}
# a hyphen-minus that leads a number (not one inside a word such as "cpu-20ep"), or one before
# another hyphen (so "--flag" does not become an en dash)
_MINUS = r"(?<![\w.\-])-(?=\.?\d)|-(?=-)"
_PATTERN = re.compile(_MINUS + "|[" + re.escape("".join(_CHARS)) + "]")


def escape(text: object) -> str:
    """Plain text (a cell, a caption) as LaTeX: special characters escaped, a true minus, symbols as math."""

    def one(match: re.Match) -> str:
        s = match.group(0)
        if s == "-":
            return "$-$" if match.end() < len(match.string) and match.string[match.end()] != "-" else "-{}"
        return _CHARS[s]

    return _PATTERN.sub(one, str(text))


def minus(text: str) -> str:
    """Plain text with a true minus (U+2212) for every hyphen-minus that leads a number."""
    return re.sub(r"(?<![\w.\-])-(?=\.?\d)", "\u2212", text)


# ------------------------------------------------------------------------------------------ widths
_WIDE = set("ABCDEFGHKMNOQRUVWXYmw±−×‖")
_NARROW = set(".,:;!'|il()[]†‡ ")


def text_width_pt(text: str) -> float:
    """A rough width in points of plain text in 10 pt Computer Modern (generous, never exact)."""
    return sum(7.8 if c in _WIDE else 3.0 if c in _NARROW else 5.2 for c in text)


def width_pt(header: Sequence[str], rows: Sequence[Sequence[str]]) -> float:
    """The estimated width of a tabular (widest cell per column, plus the column separation)."""
    columns = list(zip(header, *rows, strict=True))
    return sum(max(text_width_pt(c) for c in col) + 12.0 for col in columns)


def layout(header: Sequence[str], rows: Sequence[Sequence[str]]) -> tuple[bool, str]:
    """(wide: needs ``table*``, the font size command) for a tabular that must fit a column or a page."""
    w = width_pt(header, rows)
    for wide, limit in ((False, COLUMN_IN * 72), (True, PAGE_IN * 72)):
        for size, scale in (("", 1.0), (r"\small", 0.9), (r"\footnotesize", 0.8)):
            if w * scale <= limit * 0.97 and (size == "" or wide):  # a column float keeps the text size
                return wide, size
    return True, r"\footnotesize"  # compile_tex will say by how much it is too wide


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    caption: str,
    label: str,
    align: str,
    notes: Sequence[str] = (),
    rules: Sequence[int] = (),
) -> str:
    """A booktabs float from plain text (every cell, the caption and notes escaped here).

    ``align``: one letter per column; ``rules``: indices of rows preceded by a ``\\midrule``;
    ``notes``: sentences set below the tabular in ``\\footnotesize``. The float is ``table`` where
    the estimate fits a column, else ``table*`` (in ``\\small`` or ``\\footnotesize`` with columns 4 pt
    apart if needed).
    """
    if len(align) != len(header) or any(len(r) != len(header) for r in rows):
        raise ValueError(f"{label}: every row needs {len(header)} cells, one per letter of {align!r}")
    wide, size = layout(header, rows)
    env = "table*" if wide else "table"
    lines = [f"\\begin{{{env}}}[t]", "\\centering"] + ([size] if size else [])
    if size == r"\footnotesize":  # the tightest layout: columns 4 pt apart instead of 6
        lines.append(r"\setlength{\tabcolsep}{4pt}")
    lines += [f"\\caption{{{escape(caption)}}}", f"\\label{{{label}}}", f"\\begin{{tabular}}{{{align}}}", "\\toprule"]
    lines.append(" & ".join(escape(h) for h in header) + " \\\\")
    lines.append("\\midrule")
    for i, row in enumerate(rows):
        if i in rules and i:
            lines.append("\\midrule")
        lines.append(" & ".join(_cell(c) for c in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    if notes:
        lines.append("\\par\\smallskip{\\footnotesize\\raggedright " + escape(" ".join(notes)) + "\\par}")
    lines.append(f"\\end{{{env}}}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """A cell; a closing mark (†, ‡) takes no width, so marked numbers stay aligned with the others."""
    if text[-1:] in ("†", "‡"):
        return escape(text[:-1]) + r"\rlap{" + escape(text[-1]) + "}"
    return escape(text)


# ----------------------------------------------------------------------------------------- compile
def document(tex: str, width_in: float | None = None) -> str:
    """``tex`` (a float) inside the minimal article it must compile in, at the width its float is for."""
    width = width_in or (PAGE_IN if "\\begin{table*}" in tex else COLUMN_IN)
    side = (8.5 - width) / 2 - 1  # LaTeX's own 1 in offset
    return "\n".join(
        [
            "\\documentclass{article}",
            PREAMBLE,
            f"\\setlength{{\\textwidth}}{{{width}in}}\\setlength{{\\oddsidemargin}}{{{side:.3f}in}}",
            f"\\setlength{{\\evensidemargin}}{{{side:.3f}in}}\\setlength{{\\textheight}}{{{PAGE_HEIGHT_IN}in}}",
            "\\setlength{\\topmargin}{-0.5in}\\setlength{\\headheight}{0pt}\\setlength{\\headsep}{0pt}",
            "\\begin{document}",
            tex.strip(),
            "\\end{document}",
            "",
        ]
    )


def compile_tex(
    source: str | Path, width_in: float | None = None, pdf: str | Path | None = None, timeout: float = 120
) -> tuple[bool, str]:
    """Compile a table (a ``.tex`` path or its text) with ``pdflatex`` in a temporary folder.

    A fragment is wrapped by :func:`document` (a full document, one with ``\\documentclass``, is
    compiled as it is). Returns (ok, the log's tail, led by every overfull box and oversized
    float): ok only when pdflatex succeeded and nothing is wider than the float's width or taller
    than the page. ``pdf``: where to keep the PDF. Raises FileNotFoundError without ``pdflatex``.
    """
    exe = shutil.which("pdflatex")
    if exe is None:
        raise FileNotFoundError("pdflatex is not installed (Debian: apt-get install texlive-latex-recommended)")
    is_path = isinstance(source, Path) or ("\n" not in source and "\\" not in source and Path(source).is_file())
    text = Path(source).read_text(encoding="utf-8") if is_path else str(source)
    if "\\documentclass" not in text:
        text = document(text, width_in)
    with tempfile.TemporaryDirectory(prefix="akd-latex-") as tmp:
        (Path(tmp) / "table.tex").write_text(text, encoding="utf-8")
        try:
            proc = subprocess.run(
                [exe, "-interaction=nonstopmode", "-halt-on-error", "table.tex"],
                cwd=tmp,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return False, f"pdflatex did not finish in {timeout:.0f} s"
        log_file = Path(tmp) / "table.log"
        log = log_file.read_text(errors="replace") if log_file.exists() else proc.stdout + proc.stderr
        out = Path(tmp) / "table.pdf"
        if pdf is not None and out.exists():
            shutil.copyfile(out, pdf)
        problems = [line for line in log.splitlines() if line.startswith("Overfull") or "Float too large" in line]
        ok = proc.returncode == 0 and out.exists() and not problems
        return ok, "\n".join([*problems, log[-3000:]])
