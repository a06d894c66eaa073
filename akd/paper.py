"""Reference numbers from the Annealing-KD paper (see shared PAPER.md), test accuracy in %.

Rows are the suite's run names: teacher, ta, and the method names.
"""

PAPER_NUMBERS: dict[str, dict[str, float]] = {
    "cifar10": {"teacher": 93.8, "ta": 92.39, "nokd": 88.44, "kd": 88.45, "takd": 88.47, "annealing": 89.44},
    "cifar100": {"teacher": 71.92, "ta": 67.6, "nokd": 61.37, "kd": 61.41, "takd": 61.82, "annealing": 63.1},
}
