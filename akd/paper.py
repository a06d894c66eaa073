"""Reference numbers from the Annealing-KD paper (Jafari et al., EACL 2021, Tables 1-3).

Rows are the suite's run names: teacher, ta, and the method names ("nokd" is the paper's student
fine-tuned or trained without distillation). CIFAR: test accuracy in %. GLUE: dev-set metric x100
per task (CoLA MCC, MRPC F1, STS-B Pearson, MNLI-matched accuracy, accuracy otherwise); the GLUE
paper tables give no TA row.
"""

from __future__ import annotations

PAPER_NUMBERS: dict[str, dict[str, float]] = {
    "cifar10": {"teacher": 93.8, "ta": 92.39, "nokd": 88.44, "kd": 88.45, "takd": 88.47, "annealing": 89.44},
    "cifar100": {"teacher": 71.92, "ta": 67.6, "nokd": 61.37, "kd": 61.41, "takd": 61.82, "annealing": 63.1},
}

GLUE_TASKS = ("cola", "rte", "mrpc", "stsb", "sst2", "qnli", "qqp", "mnli")
_GLUE_ROWS = {
    "distilroberta": {
        "teacher": (68.1, 86.3, 91.9, 92.3, 96.4, 94.6, 91.5, 90.22),
        "nokd": (59.3, 67.9, 88.6, 88.5, 92.5, 90.8, 90.9, 84.0),
        "kd": (60.97, 71.11, 90.2, 88.86, 92.54, 91.37, 91.64, 84.18),
        "takd": (61.15, 71.84, 89.91, 88.94, 92.54, 91.32, 91.7, 83.89),
        "annealing": (61.67, 73.64, 90.6, 89.01, 93.11, 91.64, 91.5, 85.34),
    },
    "bert-small": {
        "teacher": (65.8, 71.48, 91.38, 89.2, 92.77, 92.82, 91.45, 86.3),
        "nokd": (41.7, 64.98, 83.75, 87.41, 88.3, 86.49, 88.43, 78.42),
        "kd": (41.89, 64.98, 86.0, 85.95, 88.76, 86.75, 88.24, 78.62),
        "takd": (40.2, 65.7, 85.23, 86.44, 88.88, 86.78, 88.4, 78.78),
        "annealing": (41.36, 64.9, 87.93, 87.04, 89.56, 86.99, 88.58, 78.66),
    },
}
# the GLUE test server's averages (the paper's text): no dev-set counterpart, never reproduced here
GLUE_SERVER: dict[str, dict[str, float]] = {
    "distilroberta": {"nokd": 82.02, "kd": 82.14, "takd": 82.14, "annealing": 82.58},
    "bert-small": {"nokd": 74.24, "kd": 74.09, "takd": 74.14, "annealing": 74.78},
}
# table -> "glue-<task>" -> run -> number
GLUE_PAPER: dict[str, dict[str, dict[str, float]]] = {
    table: {f"glue-{t}": {run: values[i] for run, values in rows.items()} for i, t in enumerate(GLUE_TASKS)}
    for table, rows in _GLUE_ROWS.items()
}


def paper_row(table: str, dataset: str) -> dict[str, float]:
    """The paper's numbers for ``dataset`` in ``table`` (run -> number), or {}."""
    if table in PAPER_NUMBERS:
        return PAPER_NUMBERS[table] if table == dataset else {}
    return GLUE_PAPER.get(table, {}).get(dataset, {})


def known_tables() -> list[str]:
    return [*PAPER_NUMBERS, *GLUE_PAPER]
