"""Break the code on purpose and check that the science tests notice (``nox -s mutants``).

Each mutant is a one-line change to the library that would silently corrupt results. For each, the
repository's tracked files are copied to a temporary folder, the change is applied there, and
the tests it names run (``tests/test_science.py`` unless it names others); the mutant must make at
least one test fail ("killed"). A mutant
whose text no longer occurs in the code is reported as stale: update it with the code it guards.
Exit status 0 only when every mutant is killed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    what: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...] = ("tests/test_science.py",)  # pytest arguments that must fail


MUTANTS = [
    Mutant(
        "evaluation returns a constant",
        "akd/engine.py",
        "return task.metrics(*predict(model, task, split, batch_size, rt))",
        'return {"acc": 50.0}',
    ),
    Mutant(
        "the best epoch is chosen on the test split",
        "akd/engine.py",
        'val = evaluate(model, task, "val", optim_cfg.eval_batch_size, rt)\n            if val[key] > best_val[key]:',
        'val = evaluate(model, task, "test", optim_cfg.eval_batch_size, rt)\n            if val[key] > best_val[key]:',
    ),
    Mutant(
        "the stage hands on its last checkpoint, not its selected one",
        "akd/engine.py",
        "model.load_state_dict(best_state)  # the stage hands on its selected checkpoint",
        "pass",
    ),
    Mutant(
        "the selected epoch's test number is the last epoch's (one test pass where two are needed)",
        "akd/engine.py",
        'selected_last = not history or best_epoch == int(history[-1]["epoch"])',
        "selected_last = True",
    ),
    Mutant(
        "Annealing-KD phase 2 starts from scratch",
        "akd/jobs.py",
        'if stage.init == "previous" and stage.trains in models:',
        "if False:",
    ),
    Mutant(
        "a resumed stage forgets its optimiser's momentum",
        "akd/engine.py",
        'recipe.optimizer.load_state_dict(resume["optimizer"])',
        "pass",
        ("tests/test_jobs.py", "-k", "resumed_stage"),
    ),
    Mutant(
        "a resumed stage draws dropout from another random stream",
        "akd/engine.py",
        'set_rng_state(resume["rng"])',
        "pass",
        ("tests/test_glue.py", "-k", "resumed_text"),
    ),
    Mutant(
        "a job resumed between Annealing-KD's phases starts phase 2 from a fresh student",
        "akd/jobs.py",
        'model.load_state_dict(state["models"][stage.trains])',
        "pass",
        ("tests/test_jobs.py", "-k", "killed_anywhere"),
    ),
    Mutant(
        "a resumed job's MLflow run is continued but left KILLED while it trains",
        "akd/job_tracking.py",
        "            tracker.reopen(run_id)",
        "            pass",
        ("tests/test_jobs.py", "-k", "redone"),
    ),
    Mutant(
        "an epoch redone after the last checkpoint is logged twice",
        "akd/jobs.py",
        "if step not in job.logged:",
        "if True:",
        ("tests/test_jobs.py", "-k", "redone"),
    ),
    Mutant(
        "a retried sweep trial trains again the seed its dead worker finished",
        "akd/sweep/trials.py",
        "            if stored:",
        "            if False:",
        ("tests/test_sweep_workers.py", "-k", "retried_trial_reuses"),
    ),
    Mutant(
        "a retried sweep trial restarts the killed seed from scratch",
        "akd/sweep/trials.py",
        "            state = ckpt.load()",
        "            state = None",
        ("tests/test_sweep_workers.py", "-k", "retried_trial_reuses"),
    ),
    Mutant(
        "the phase-1 loss ignores the annealing scale",
        "akd/annealing.py",
        "return annealing_mse(logits, teacher_logits, scale, self.reduction)",
        "return annealing_mse(logits, teacher_logits, 1.0, self.reduction)",
    ),
    Mutant(
        "the verdict compares the methods the wrong way round",
        "akd/stats.py",
        "d = np.array([float(a[s]) - float(b[s]) for s in seeds])",
        "d = np.array([float(b[s]) - float(a[s]) for s in seeds])",
    ),
    Mutant(
        "the normal (z) interval replaces the t interval (undercovers at 3 to 10 seeds)",
        "akd/stats.py",
        "return float(stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))",
        "return float(stats.norm.ppf(0.5 + confidence / 2) * x.std(ddof=1) / math.sqrt(len(x)))",
        ("tests/test_stats.py", "-k", "covers_95"),
    ),
    Mutant(
        "the verdict ignores Holm's correction",
        "akd/stats.py",
        "return self.n >= 2 and self.p_adjusted < self.alpha",
        "return self.n >= 2 and self.p_value < self.alpha",
        ("tests/test_stats.py", "-k", "family"),
    ),
    Mutant(
        "tied seeds counted in the sign-flip floor",
        "akd/stats.py",
        "return min(1.0, 2.0 / 2 ** int(np.count_nonzero(d)))",
        "return min(1.0, 2.0 / 2 ** len(d))",
        ("tests/test_stats.py", "-k", "tie"),
    ),
    Mutant(
        "seeds needed from the interval's width, not from power",
        "akd/stats.py",
        "if power(mid, effect, sd, alpha) >= target:",
        "if stats.t.ppf(1 - alpha / 2, mid - 1) * sd / math.sqrt(mid) < effect:",
        ("tests/test_stats.py", "-k", "seeds_needed"),
    ),
    Mutant(
        "a summary's verdict computed without the family (no Holm)",
        "akd/results.py",
        'return family_of_pairs(values, pairs, metric=f"test_{metric}")',
        "return {(a, b): paired(values[a], values[b]) for a, b in pairs if a in values and b in values}\n\n"
        "from akd.stats import paired",
        ("tests/test_verdicts.py",),
    ),
    Mutant(
        "KD's two weights are passed swapped",
        "baselines/kd.py",
        "self.temperature, self.w_kd, self.w_ce)",
        "self.temperature, self.w_ce, self.w_kd)",
    ),
    Mutant(
        "a resumed stage forgets its objective's state (CTKD's learned temperature)",
        "akd/engine.py",
        'objective.load_state_dict(resume.get("objective", {}))',
        "pass",
        ("tests/test_jobs.py", "-k", "resumed_ctkd"),
    ),
    Mutant(
        "TAKD's student learns from the teacher instead of the TA",
        "baselines/takd.py",
        'HintonKD.of(t.student), teacher="ta")',
        'HintonKD.of(t.student), teacher="teacher")',
        ("tests/test_plan.py", "-k", "takd"),
    ),
    Mutant(
        "the teacher-output cache is keyed without the teacher's weights",
        "akd/teacher.py",
        '"weights": digest,',
        '"weights": "",',
        ("tests/test_cache.py", "-k", "changing_seed_teacher"),
    ),
    Mutant(
        "the validation split is also trained on",
        "akd/splits.py",
        "val_idx, train_idx = order[:n_val], order[n_val:]",
        "val_idx, train_idx = order[:n_val], order",
        ("tests/test_splits.py",),
    ),
    Mutant(
        "DKD's alpha and beta swapped",
        "baselines/dkd.py",
        "ramp * (self.alpha * tckd + self.beta * nckd)",
        "ramp * (self.beta * tckd + self.alpha * nckd)",
        ("tests/test_methods.py", "-k", "dkd"),
    ),
    Mutant(
        "CTKD without the gradient reversal",
        "baselines/ctkd.py",
        "return ctx.lam * grad, None",
        "return grad, None",
        ("tests/test_methods.py", "-k", "ctkd"),
    ),
    Mutant(
        "DIST's inter- and intra-class terms swapped",
        "baselines/dist.py",
        "inter = 1.0 - pearson_rows(p_s, p_t).mean()\n    intra = 1.0 - pearson_rows(p_s.T, p_t.T).mean()",
        "inter = 1.0 - pearson_rows(p_s.T, p_t.T).mean()\n    intra = 1.0 - pearson_rows(p_s, p_t).mean()",
        ("tests/test_methods.py", "-k", "dist"),
    ),
    Mutant(
        "logit standardisation applied to the student only",
        "baselines/kd.py",
        "kd_loss(standardize(logits), standardize(teacher_logits),",
        "kd_loss(standardize(logits), teacher_logits,",
        ("tests/test_methods.py", "-k", "standardis"),
    ),
    Mutant(
        "MSE-logit KD sums over classes where it should average",
        "baselines/mse_logit.py",
        "annealing_mse(student, teacher.reshape(student.shape), 1.0, reduction)",
        'annealing_mse(student, teacher.reshape(student.shape), 1.0, "sum")',
        ("tests/test_methods.py", "-k", "mse_logit"),
    ),
    Mutant(
        "a study tests on its tuning seeds",
        "akd/sweep/tune_test.py",
        "shared = sorted(set(seeds) & set(cfg.seeds))",
        "shared = []",
        ("tests/test_study.py",),
    ),
    Mutant(
        "Annealing-KD's phase 2 is not cut to the budget (it trains longer than the baselines)",
        "akd/sweep/space.py",
        "return {**settings, self.rest: left}",
        "return {**settings, self.rest: left + 1}",
        ("tests/test_study.py",),
    ),
    Mutant(
        "a tuned learning rate retrains the teacher in every trial",
        "akd/sweep/space.py",
        'out.teacher_lr, out.ta_lr = cfg.optim_for("teacher").lr, cfg.optim_for("ta").lr',
        "pass",
        ("tests/test_study.py",),
    ),
    Mutant(
        "the teacher trains on the students' samples, not its own",
        "akd/jobs.py",
        'data = teacher_task(cfg, self.task) if job.run.kind == "teacher" else self.task',
        "data = self.task",
        ("tests/test_study.py",),
    ),
]


def _copy_repo(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target)


def run_mutant(mutant: Mutant | None) -> str:
    """'killed', 'SURVIVED', 'STALE' or 'ERROR'; ``None`` runs the unchanged code (must survive)."""
    with tempfile.TemporaryDirectory(prefix="akd-mutant-") as tmp:
        copy = Path(tmp)
        _copy_repo(copy)
        if mutant is not None:
            path = copy / mutant.file
            text = path.read_text()
            if text.count(mutant.old) != 1:
                return "STALE"
            path.write_text(text.replace(mutant.old, mutant.new))
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *(mutant or MUTANTS[0]).tests],
            cwd=copy,
            capture_output=True,
            text=True,
        )
        return "killed" if proc.returncode == 1 else ("SURVIVED" if proc.returncode == 0 else "ERROR")


def main() -> int:
    if run_mutant(None) != "SURVIVED":
        print("the science tests fail on the unchanged code: fix them first")
        return 1
    failures = 0
    for mutant in MUTANTS:
        start = time.perf_counter()
        verdict = run_mutant(mutant)
        failures += verdict != "killed"
        print(f"{verdict:<9} {mutant.what} ({mutant.file}, {time.perf_counter() - start:.0f} s)", flush=True)
    print(f"{len(MUTANTS) - failures} of {len(MUTANTS)} mutants killed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
