"""Each declared comparison (by default Annealing-KD minus each baseline), paired by seed, for every
benchmark, variant and dataset.

The numbers and the verdict come from :func:`akd.stats.family`, the one source every summary uses:
a paired t interval and test per comparison, Holm's correction across the comparisons of one
family (one benchmark, variant and dataset), the exact sign-flip p beside it, and the seeds a
t test would need for 80 % power. Each line carries both methods' epoch budgets and is flagged
where the comparison is not like for like: unequal epoch budgets, or checkpoints selected on the
test set (the official protocol).
"""

from __future__ import annotations

import math

import pandas as pd

from akd.config import comparison_pairs
from akd.methods import STUDENTS
from akd.report import latex
from akd.results import LABELS, REFERENCE, judged
from akd.stats import Paired, family_of_pairs, fmt_signed, interval_label

GROUP = ["benchmark", "variant", "dataset"]


def _epochs(part: pd.DataFrame) -> float:
    values = part["epochs"].dropna() if "epochs" in part else pd.Series(dtype=float)
    return float(values.max()) if len(values) else math.nan


def _flags(ann: pd.DataFrame, base: pd.DataFrame, reference: str, name: str) -> str:
    flags = []
    a, b = _epochs(ann), _epochs(base)
    if math.isnan(a) or math.isnan(b):
        flags.append("epoch budgets not recorded")
    elif a != b:
        flags.append(f"unequal budget: {reference} {a:.0f} epochs, {name} {b:.0f}")
    if "selection" in ann and ((ann["selection"] == "test").any() or (base["selection"] == "test").any()):
        flags.append("checkpoints selected on the test set")
    return "; ".join(flags)


def _by_seed(part: pd.DataFrame, column: str) -> dict[int, float]:
    return dict(zip(part["seed"], part[column], strict=True))


def declared_pairs(group: pd.DataFrame) -> list[tuple[str, str]]:
    """The pairs a group's benchmark declared (its ``compare`` setting, as its summary judged them)."""
    methods = STUDENTS.present(group["run"])
    spec = group["compare"].iloc[0] if "compare" in group and isinstance(group["compare"].iloc[0], str) else REFERENCE
    return comparison_pairs(spec, methods)


def comparisons(runs: pd.DataFrame) -> list[tuple[dict, Paired]]:
    """(description, paired result) per (benchmark, variant, dataset, pair) with common seeds."""
    out = []
    for key, group in runs.groupby(GROUP, sort=True):
        metric = group["metric"].iloc[0]
        column = f"test_{metric}"
        where = "/".join(map(str, key))
        declared = declared_pairs(group)
        values = {m: _by_seed(group[group["run"] == m], column) for pair in declared for m in pair}
        found = family_of_pairs(values, declared, metric=f"{column} ({where})")
        for a, b in declared:
            if (a, b) not in found:
                continue
            ref, other = group[group["run"] == a], group[group["run"] == b]
            info = dict(zip(GROUP, key, strict=True)) | {"reference": a, "baseline": b, "metric": metric}
            info |= {"epochs_reference": _epochs(ref), "epochs_baseline": _epochs(other)}
            info["flags"] = _flags(ref, other, LABELS[a], LABELS[b])
            out.append((info, found[(a, b)]))
    return out


def verdict(p: Paired, info: dict) -> str:
    """The judgement in words, with the reference method named and unequal budgets said (as the summaries)."""
    a, b = info.get("reference", REFERENCE), info["baseline"]
    epochs = {a: info.get("epochs_reference", math.nan), b: info.get("epochs_baseline", math.nan)}
    return judged(p, a, b, epochs)


def references(frame: pd.DataFrame) -> str:
    """``Annealing-KD`` when every row has that reference, else ``each reference``."""
    refs = set(frame["reference"]) if "reference" in frame and len(frame) else {REFERENCE}
    return LABELS[next(iter(refs))] if len(refs) == 1 else "each reference"


def _vs(r: dict, frame: pd.DataFrame) -> str:
    one = "reference" not in frame or frame["reference"].nunique() <= 1
    return LABELS[r["baseline"]] if one else f"{LABELS[r['reference']]} \u2212 {LABELS[r['baseline']]}"


def table(pairs: list[tuple[dict, Paired]]) -> pd.DataFrame:
    """One line per comparison with every number of the paired result, the budgets and the flags."""
    rows = []
    for info, p in pairs:
        rows.append(
            info
            | {
                "n": p.n,
                "seeds": " ".join(map(str, p.seeds)),
                "per_seed": " ".join(f"{d:+.2f}" for d in p.diffs),
                "mean": p.mean,
                "interval": p.interval,
                "ci_low": p.ci_low,
                "ci_high": p.ci_high,
                "p_t": p.p_value,
                "p_holm": p.p_adjusted,
                "family_size": p.family_size,
                "p_sign_flip": p.p_sign_flip,
                "p_sign_flip_floor": p.p_min,
                "prob_improvement": p.prob_improvement,
                "wins": p.wins,
                "seeds_needed": p.needed.n,
                "seeds_needed_low": p.needed.low,
                "seeds_needed_high": p.needed.high,
                "seeds_needed_status": p.needed.status,
                "distinguishable": p.distinguishable,
                "verdict": verdict(p, info),
            }
        )
    return pd.DataFrame(rows)


def caption_note(frame: pd.DataFrame) -> str:
    """The statistics stated once: interval, n, test, correction, the sign-flip floor, the verdict rule."""
    ns = sorted(set(int(n) for n in frame["n"])) if len(frame) else [0]
    n = str(ns[0]) if len(ns) == 1 else f"{ns[0]} to {ns[-1]}"
    label = interval_label(0).replace("n = 0", f"n = {n} seeds")
    floor = ""
    if len(frame) and (frame["p_sign_flip_floor"] >= 0.05).all():
        lowest = frame["p_sign_flip_floor"].min()
        floor = f" At {n} seeds the sign-flip p can never fall below 0.05 (it cannot go below {lowest:.3g})."
    return (
        f"Mean paired difference of the test metric (unit per row) with its {label}; p: paired t test, Holm-adjusted "
        f"across the comparisons of each benchmark, variant and dataset (the interval is unadjusted). "
        f"A difference is distinguishable when the Holm-adjusted p < 0.05.{floor}"
    )


def _where(r: dict) -> str:
    return f"{r['benchmark']} / {r['variant']}" + (f" / {r['dataset']}" if r["dataset"] != r["benchmark"] else "")


def _budget(r: dict) -> str:
    a, b = r.get("epochs_reference", math.nan), r.get("epochs_baseline", math.nan)
    if pd.isna(a) or pd.isna(b):
        return "not recorded"
    return f"{a:.0f} vs {b:.0f}" + (" (unequal)" if a != b else "")


def to_markdown(frame: pd.DataFrame, caption: str) -> str:
    lines = [
        f"**{caption}.** {caption_note(frame)}",
        "",
        "| benchmark / variant / dataset | metric | vs | difference [t interval] | per seed | p (t) | p (Holm) "
        f"| sign-flip p (floor) | seeds better | epochs ({references(frame)} vs baseline) | verdict | flags |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in frame.to_dict("records"):
        ci = f"{fmt_signed(r['mean'])} [{fmt_signed(r['ci_low'])}, {fmt_signed(r['ci_high'])}]"
        per_seed = " ".join(fmt_signed(float(d)) for d in r["per_seed"].split())
        lines.append(
            f"| {_where(r)} | {_unit(r['metric'])} | {_vs(r, frame)} | {ci} | {per_seed} | "
            f"{r['p_t']:.3g} | {r['p_holm']:.3g} | "
            f"{r['p_sign_flip']:.3g} ({r['p_sign_flip_floor']:.3g}) | {_wins(r)} | {_budget(r)} | "
            f"{r['verdict']} | {r['flags'] or '—'} |"
        )
    return "\n".join(lines) + "\n"


MARKS = (
    ("unequal", "\u2020", "\u2020: unequal epoch budgets (not budget-matched)."),
    ("test set", "\u2021", "\u2021: checkpoints selected on the test set."),
    ("not recorded", "?", "?: epoch budgets not recorded."),
)
UNITS = {"acc": "accuracy, points", "f1": "F1 x100", "mcc": "Matthews x100", "pearson": "Pearson r x100"}
SHORT_UNITS = {"acc": "Acc.", "f1": "F1", "mcc": "MCC", "pearson": "Pearson"}


def _mark(flags: str) -> str:
    return "".join(mark for key, mark, _ in MARKS if key in flags)


def _unit(metric: str) -> str:
    return UNITS.get(metric, f"{metric} x100")


def _wins(r: dict) -> str:
    """The seeds on which the reference was ahead (a tie is not a win), as the summaries count them."""
    return f"{r['wins']} of {r['n']}"


def _short(r: dict) -> str:
    if not r["distinguishable"]:
        return "n.d."
    return ("better" if r["mean"] > 0 else "worse") + _mark(r["flags"])


def to_latex(frame: pd.DataFrame, caption: str, label: str) -> str:
    """Booktabs: where, baseline, difference [t interval], p (t, Holm), sign-flip p, verdict; flags as marks."""
    records = frame.to_dict("records")
    rows = [
        [
            _where(r).replace(" / ", "/"),
            SHORT_UNITS.get(r["metric"], r["metric"]),
            _vs(r, frame) + _mark(r["flags"]),
            f"{fmt_signed(r['mean'])} [{fmt_signed(r['ci_low'])}, {fmt_signed(r['ci_high'])}]",
            _budget(r).replace(" (unequal)", "").replace(" vs ", "/"),
            f"{r['p_holm']:.2g}",
            f"{r['p_sign_flip']:.2g}",
            _short(r),
        ]
        for r in records
    ]
    groups = [_where(r) for r in records]  # a rule between families
    rules = [i for i in range(1, len(groups)) if groups[i] != groups[i - 1]]
    flags = " ".join(frame["flags"].fillna("")) if len(frame) else ""
    notes = [
        "n.d.: not distinguishable. Differences in points of the metric (correlations x100). "
        f"Epochs: {references(frame)}'s total over its stages / the baseline's."
    ]
    notes += [note for key, _, note in MARKS if key in flags]
    header = ["Benchmark / variant", "Metric", "vs", "Difference [t interval]", "Epochs", "p (Holm)", "Sign-flip p"]
    header.append("Verdict")
    return latex.table(header, rows, f"{caption}. {caption_note(frame)}", label, "lllrcrrl", notes, rules)
