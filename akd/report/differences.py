"""Annealing-KD minus each baseline, paired by seed, for every benchmark, variant and dataset.

The numbers come from :func:`akd.stats.paired` (the functions every summary uses). Each line is
flagged where the comparison is not like for like: Annealing-KD trained for more (or fewer) epochs
than the baseline, or checkpoints selected on the test set (the official protocol).
"""

from __future__ import annotations

import math

import pandas as pd

from akd.report.tables import booktabs
from akd.results import LABELS
from akd.stats import Paired, paired

BASELINES = ("nokd", "kd", "takd")
GROUP = ["benchmark", "variant", "dataset"]


def _flags(ann: pd.DataFrame, base: pd.DataFrame, name: str) -> str:
    flags = []
    a, b = ann.get("epochs", pd.Series(dtype=float)), base.get("epochs", pd.Series(dtype=float))
    if a.isna().all() or b.isna().all():
        flags.append("epoch budgets not recorded")
    elif a.max() != b.max():
        flags.append(f"unequal budget: Annealing-KD {a.max():.0f} epochs, {name} {b.max():.0f}")
    if "selection" in ann and ((ann["selection"] == "test").any() or (base["selection"] == "test").any()):
        flags.append("checkpoints selected on the test set")
    return "; ".join(flags)


def comparisons(runs: pd.DataFrame, baselines=BASELINES) -> list[tuple[dict, Paired]]:
    """(description, paired result) per (benchmark, variant, dataset, baseline) with common seeds."""
    out = []
    for key, group in runs.groupby(GROUP, sort=True):
        metric = group["metric"].iloc[0]
        ann = group[group["run"] == "annealing"]
        if ann.empty:
            continue
        values = dict(zip(ann["seed"], ann[f"test_{metric}"], strict=True))
        for base in baselines:
            other = group[group["run"] == base]
            theirs = dict(zip(other["seed"], other[f"test_{metric}"], strict=True))
            if not set(values) & set(theirs):
                continue
            info = dict(zip(GROUP, key, strict=True)) | {"baseline": base, "metric": metric}
            info["flags"] = _flags(ann, other, LABELS[base])
            out.append((info, paired(values, theirs)))
    return out


def table(pairs: list[tuple[dict, Paired]]) -> pd.DataFrame:
    """One line per comparison with every number of the paired result and its flags."""
    rows = []
    for info, p in pairs:
        rows.append(
            info
            | {
                "n": p.n,
                "seeds": " ".join(map(str, p.seeds)),
                "per_seed": " ".join(f"{d:+.2f}" for d in p.diffs),
                "mean": p.mean,
                "ci_low": p.ci_low,
                "ci_high": p.ci_high,
                "p_value": p.p_value,
                "p_min": p.p_min,
                "prob_improvement": p.prob_improvement,
                "seeds_needed": p.seeds_needed,
                "judgement": p.judgement().replace("A is", "Annealing-KD is"),
            }
        )
    return pd.DataFrame(rows)


def _num(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.2f}"


def to_markdown(frame: pd.DataFrame, caption: str) -> str:
    lines = [
        f"**{caption}**",
        "",
        "| benchmark / variant / dataset | vs | mean (95% CI) | per seed | sign-flip p | P(improve) | judgement "
        "| flags |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in frame.to_dict("records"):
        where = f"{r['benchmark']} / {r['variant']} / {r['dataset']}"
        ci = f"{_num(r['mean'])} ({_num(r['ci_low'])}, {_num(r['ci_high'])})"
        lines.append(
            f"| {where} | {LABELS[r['baseline']]} | {ci} | {r['per_seed']} | {r['p_value']:.3g} | "
            f"{r['prob_improvement']:.2f} | {r['judgement']} | {r['flags'] or '—'} |"
        )
    return "\n".join(lines) + "\n"


def to_latex(frame: pd.DataFrame, caption: str, label: str) -> str:
    """Booktabs: where, baseline, mean [interval], p, P(improve), n (flags as footnote marks)."""
    body = pd.DataFrame(
        {
            "Benchmark": [_where(r).replace("_", r"\_") for r in frame.to_dict("records")],
            "Baseline": [LABELS[b] for b in frame["baseline"]],
            "Difference [95\\% CI]": [
                f"{_num(m)} [{_num(lo)}, {_num(hi)}]".replace("—", "--")
                for m, lo, hi in zip(frame["mean"], frame["ci_low"], frame["ci_high"], strict=True)
            ],
            "$p$": [f"{p:.3g}" for p in frame["p_value"]],
            "P(impr.)": [f"{p:.2f}" for p in frame["prob_improvement"]],
            "$n$": frame["n"].astype(str),
            "Flag": [_mark(f) for f in frame["flags"]],
        }
    )
    tex = booktabs(body, caption, label, "llrrrrl")
    note = "\\par\\footnotesize $\\dagger$: unequal epoch budgets or test-set selection; ?: budgets not recorded.\n"
    return tex.replace("\\end{table}", note + "\\end{table}")


def _where(r: dict) -> str:
    return f"{r['benchmark']} {r['variant']}" + (f" {r['dataset']}" if r["dataset"] != r["benchmark"] else "")


def _mark(flags: str) -> str:
    mark = "$\\dagger$" if ("unequal" in flags or "test set" in flags) else ""
    return mark + ("?" if "not recorded" in flags else "")
