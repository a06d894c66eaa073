"""A worker's trials, run in one process that keeps the data, the teacher and the cache loaded.

Each trial applies its sampled settings to the profile's config, plans the arm's method for every
seed of the sweep (the same seeds in every trial; never a hyperparameter) and trains it on the
benchmark runner's own code path, so a trial's run is the run ``akd bench`` would make. The
teacher (and a TAKD trial's TA) comes from the model store, trained once by whichever worker
needs it first; its outputs on the training batches come from the teacher-output cache, computed
once per (seed, epoch) whatever the number of trials.

- **Objective**: the student's validation value of the task's selection metric at its selected
  epoch (``val_<m>_best`` of the method's last stage), averaged over the seeds. Test values are
  recorded per seed for reporting, never used to choose.
- **Pruning**: seeds run one after another; after each epoch the seed's best validation value so
  far is reported at step ``seed_index * max_epochs + epoch`` (``max_epochs``: the most epochs a
  trial of this space can train), so every trial's steps line up. The pruner compares trials at
  the same epoch: a long phase 1 is judged on its early, still-annealed epochs, which favours
  short phase 1s; use ``pruner = "none"`` where that bias matters.
- **Jobs**: each seed of a trial is a job keyed by its content (the trial's settings included),
  checkpointed as it trains and stored with its results and history (not its weights). A trial
  retried after its worker died (same settings) takes the seeds that finished from the store and
  resumes the one that was training from its checkpoint, bit-identical to an uninterrupted trial.
- **MLflow**: one run per trial, nested under the study's run, with the sampled settings as
  params, per-epoch metrics at the pruner's steps, the objective, per-seed test values and the
  trial's state (``FINISHED``; ``KILLED`` with ``trial_state = PRUNED``; ``FAILED``).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import statistics
from typing import Any

import optuna
from torch import nn

from akd.bench import runtime_for
from akd.checkpoint import logged_history
from akd.config import BenchConfig
from akd.errors import Diverged
from akd.jobs import Job, JobRunner
from akd.plan import Run, build_plan
from akd.store import ModelStore, recipe_key
from akd.sweep.space import Arm, Space, with_settings
from akd.tasks.base import load_task
from akd.tracking import Tracker

DIVERGED = -100.0  # a diverged trial's objective: below every metric of the suite (0-100; correlations x100)


def _settings(settings: dict[str, Any]) -> str:
    return " ".join(
        f"{k.split('.')[-1]}={v:.4g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
        for k, v in settings.items()
    )


def claim_study_run(tracker: Tracker, study_tags: dict[str, str], tags: dict[str, str], arm: Arm, seeds: list) -> str:
    """The study's MLflow run: found by (study, storage) from any worker or machine, else started."""
    match = {"kind": "study", "study": study_tags["study"], "storage_id": study_tags["storage_id"]}
    params = {"space": str(arm.describe()), "seeds": str(seeds)}
    run_id, started = tracker.claim(f"sweep/{study_tags['study']}", match, {**tags, **study_tags}, params)
    if not started and tracker.status(run_id) != "RUNNING":
        tracker.reopen(run_id)
    return run_id


class TrialRunner:
    """The trials of one study arm in this worker process. It owns a :class:`JobRunner` holding what
    the trials share (tracker, store, data, cache, the study's MLflow run); each trial's seeds run on
    a copy of it made for the trial's config (:meth:`JobRunner.for_config`), an object of its own."""

    def __init__(
        self,
        cfg: BenchConfig,
        tracker: Tracker,
        store: ModelStore,
        space: Space,
        arm: Arm,
        seeds: list[int],
        study_tags: dict[str, str],
        log=print,
        command: str = "",
        loaded: dict[str, Any] | None = None,
    ) -> None:
        self.jobs = JobRunner(cfg, tracker, store, log, command)
        self.jobs.track_reuse = False
        self.base, self.space, self.arm, self.seeds, self.log = cfg, space, arm, list(seeds), log
        self.study_tags = study_tags
        self.models: dict[str, nn.Module] = {}  # store key -> frozen teacher or TA, across trials
        self.max_epochs = arm.max_epochs
        self.loaded = {} if loaded is None else loaded  # machine and data, shared by the runners of one sweep
        self.task = None

    @property
    def tracker(self) -> Tracker:
        return self.jobs.tracker

    @property
    def parent(self) -> str | None:
        return self.jobs.parent

    def setup(self) -> None:
        """Load the data (once per sweep) and open the tracker; claim (or rejoin) the study's parent run."""
        if self.task is not None:
            return
        if not self.loaded:
            rt = runtime_for(self.base)
            self.loaded.update(rt=rt, task=load_task(self.base, rt.device))
        self.jobs.open(self.loaded["rt"], self.loaded["task"])
        self.task, self.base_tags = self.jobs.task, self.jobs.base_tags
        self.metric = self.task.selection_metric
        self.jobs.parent = claim_study_run(self.tracker, self.study_tags, self.base_tags, self.arm, self.seeds)

    # ------------------------------------------------------------------ one trial
    def __call__(self, trial: optuna.Trial) -> float:
        self.setup()
        sampled = self.arm.suggest(trial)
        settings = self.arm.complete(self.base, sampled)  # the budget's rest (Annealing-KD's phase 2)
        derived = {k: v for k, v in settings.items() if k not in sampled}
        if derived:
            trial.set_user_attr("derived", derived)
        cfg = with_settings(self.base, self.arm.method, settings)
        tags = {
            **self.base_tags,
            **self.study_tags,
            "kind": "trial",
            "method": self.arm.method,
            "trial_number": str(trial.number),
            "trial_id": str(trial._trial_id),
        }
        run_id = self.tracker.start(
            f"{self.space.name}/trial{trial.number}", tags, settings | {"seeds": self.seeds}, parent=self.parent
        )
        trial.set_user_attr("mlflow_run_id", run_id)
        try:
            per_seed = self._seeds(cfg, trial, run_id)
        except Diverged as exc:
            # a finished trial at the floor: it counts toward the budget, and the sampler learns to avoid
            # its region (a failed trial would be neither)
            trial.set_user_attr("diverged", " ".join(str(exc).split())[:300])
            self.log(f"trial {trial.number} {_settings(settings)}: diverged; objective {DIVERGED}")
            self.tracker.log_metrics(run_id, {"objective": DIVERGED})
            self.tracker.set_tag(run_id, "trial_state", "COMPLETE (diverged)")
            self.tracker.end(run_id, True)
            return DIVERGED
        except optuna.TrialPruned as exc:
            self.log(f"trial {trial.number} {_settings(settings)}: {exc}")
            self.tracker.set_tag(run_id, "trial_state", "PRUNED")
            self.tracker.end(run_id, status="KILLED")
            raise
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):  # its settings queued again: the next run resumes its checkpoint
                trial.study.enqueue_trial(trial.params, user_attrs={"resumes": trial.number}, skip_if_exists=False)
            with contextlib.suppress(Exception):  # MLflow or the storage failing too: the first one is reported
                trial.set_user_attr("error", " ".join(str(exc).split())[:300])
                self.tracker.set_tag(run_id, "trial_state", "FAIL")
                self.tracker.end(run_id, False)
            raise
        m = self.metric
        value = statistics.fmean(r[f"val_{m}_best"] for r in per_seed.values())
        summary = {
            "objective": value,
            f"test_{m}": statistics.fmean(r[f"test_{m}"] for r in per_seed.values()),
            "train_seconds": sum(r["train_seconds"] for r in per_seed.values()),
            **{f"{k}_seed{s}": r[k] for s, r in per_seed.items() for k in (f"val_{m}_best", f"test_{m}")},
        }
        self.tracker.log_metrics(run_id, summary)
        self.tracker.log_json(run_id, per_seed, "per_seed.json")
        trial.set_user_attr("per_seed", {str(s): r for s, r in per_seed.items()})
        trial.set_user_attr(f"test_{m}", summary[f"test_{m}"])
        trial.set_user_attr("train_seconds", summary["train_seconds"])
        self.tracker.set_tag(run_id, "trial_state", "COMPLETE")
        self.tracker.end(run_id, True)  # last: a worker killed before this leaves a run the retry marks FAILED
        # validation only on screen: a tuner who watches test numbers is tempted to choose by them
        self.log(f"trial {trial.number} {_settings(settings)}: val {m} {value:.2f}")
        return value

    def _seeds(self, cfg: BenchConfig, trial: optuna.Trial, run_id: str) -> dict[int, dict[str, float]]:
        runner = self.jobs.for_config(cfg)  # this trial's settings, this worker's loaded models
        runner.models = self.models
        used: dict[str, nn.Module] = {}
        per_seed: dict[int, dict[str, float]] = {}
        one = copy.copy(cfg)
        one.seeds = self.seeds
        teacher: nn.Module | None = None
        for run in build_plan(one, self.task, runner.store):  # the teacher, then per seed: shared runs, the method
            if run.kind == "method":
                record = self._observed(runner, run, teacher, run_id, trial, self.seeds.index(run.seed))
                per_seed[run.seed] = {k: v for k, v in record.items() if "." not in k}
                continue
            if run.key not in self.models:
                source = teacher if run.kind == "shared" and run.stages[0].teacher == "teacher" else None
                self.models[run.key] = runner.stored_or_train(run, source)
            used[run.key] = self.models[run.key]
            if run.kind == "teacher":
                teacher = used[run.key]
            else:
                runner.shared_models[run.key] = used[run.key]
        self.models = used  # keep what the next trial most likely needs
        return per_seed

    def _observed(
        self, runner: JobRunner, run, teacher, run_id: str, trial: optuna.Trial, index: int
    ) -> dict[str, Any]:
        """One seed of the trial, a job of its own: trained (checkpointed as it goes, its best
        validation value so far reported to the pruner after every epoch), resumed from the
        checkpoint a dead worker left, or, in a retried trial, taken from the store as it finished."""
        key, best, step0 = f"val_{self.metric}", [float("-inf")], index * self.max_epochs

        def report(step: int, metrics: dict[str, float]) -> None:
            best[0] = max(best[0], metrics[key])
            trial.report(best[0], step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {step - step0} of seed {run.seed}")

        run = trial_job(run)
        store = runner.store
        with store.locked(run.key, self.log) as stored:
            if stored:  # a retried trial (its worker died after this seed), or the same settings again
                meta = store.meta(run.key)
                self.tracker.log_history(run_id, meta["history"], step0)
                for i, record in enumerate(meta["history"]):
                    report(step0 + i, record)
                self.log(f"{run.name}: trained with these settings by trial {meta['trial']}; reused")
                return meta["results"]
            ckpt = runner.checkpointer(run)
            state = ckpt.load()
            job = Job(run, run_id, step0, ckpt, state, observers=[report])
            try:
                for i, record in enumerate(logged_history(state) if state else []):  # the dead attempt's epochs
                    report(step0 + i, record)
                record, history, _, attempts = runner.train_method(job, teacher)
            except (optuna.TrialPruned, Diverged):
                ckpt.clear()  # a pruned or diverged trial is not retried
                raise
            meta = {"recipe": run.recipe, "results": record, "history": history, "tags": runner.job_tags}
            store.save(run.key, {}, meta | {"run_id": run_id, "trial": trial.number, "attempts": attempts})
            ckpt.clear()
        return record


def trial_job(run: Run) -> Run:
    """A trial's seed as a store entry of its own: its results and history, not its weights (a sweep
    of many trials would fill a disk). Keyed apart from ``akd bench``'s runs, which keep weights."""
    recipe = {**run.recipe, "kept": "results"}
    return dataclasses.replace(run, recipe=recipe, key=recipe_key(recipe), stored=False, resumes=False)
