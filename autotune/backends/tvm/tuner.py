"""Tuning one model's TVM subgraphs into the database: plan, search, confirm, measure.

The steps, in order, each committed to the database as it happens so that a killed job
resumes where it stopped:

1. import the model (torch.export -> Relax), fuse it as `compile_relax` will, and extract
   MetaSchedule's tasks; record the workloads and the model's composition;
2. measure each subgraph's default (untuned) latency, once per target;
3. spread the model's trial budget over its subgraphs by their share of default time;
4. run the search on each subgraph until its trials are spent (or the clock runs out);
5. confirm each subgraph's best: outputs compared with the default's, then timed
   interleaved against the default; a mismatch is recorded as a wrong result;
6. time the whole model tuned vs TVM's default build, interleaved.

Example::

    tuner = ModelTuner(db, resolve_target("llvm"), job_id)
    plan = tuner.prepare("mlp", "zoo:mlp", module, inputs)
    tuner.tune(plan, trials=64, deadline=time.time() + 300)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tvm.s_tir import meta_schedule as ms

from autotune.backends.tvm import importer, measure
from autotune.backends.tvm.database import MetaScheduleDatabase
from autotune.db.sqlite import SQLiteDatabase
from autotune.search import base as search_base

MIN_TRIALS_PER_SUBGRAPH = 8


@dataclass
class Subgraph:
    """One fused subgraph (MetaSchedule task) of a model and its tuning state."""

    task: Any
    name: str
    workload_id: int
    weight: int
    default_s: float = math.nan
    trials: int = 0  # allotted by this job
    done: int = 0  # measured so far (all jobs)


@dataclass
class ModelPlan:
    name: str
    mod: Any  # Relax module, weights bound, unfused
    inputs: list[np.ndarray]
    model_id: int
    subgraphs: list[Subgraph] = field(default_factory=list)


def allot(budget: int, shares: list[float], minimum: int = MIN_TRIALS_PER_SUBGRAPH) -> list[int]:
    """Split a trial budget: a small floor each, the rest by share (sums to budget)."""
    n = len(shares)
    if n == 0:
        return []
    floor = min(minimum, budget // n)
    rest = budget - floor * n
    total = sum(shares) or 1.0
    raw = [rest * s / total for s in shares]
    out = [floor + int(r) for r in raw]
    order = sorted(range(n), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    for i in order[: budget - sum(out)]:
        out[i] += 1
    return out


class ModelTuner:
    """Tunes the subgraphs of models for one target into one database."""

    def __init__(
        self,
        db: SQLiteDatabase,
        target: Any,
        job_id: int | None = None,
        search: str = "evolutionary",
        trials_per_iter: int = 16,
        seed: int | None = None,
        cost_model: str = "xgb",
    ) -> None:
        self.db = db
        self.target = target
        self.job_id = job_id
        self.msdb = MetaScheduleDatabase(db, target, job_id=job_id)
        self.target_id = self.msdb.target_id
        self._on_outcome: Callable[[int, str, float | None], None] | None = None
        self._search_args = {
            "kind": search,
            "trials_per_iter": trials_per_iter,
            "seed": seed,
            "cost_model": cost_model,
        }
        self._search: search_base.SubgraphSearch | None = None

    @property
    def search(self) -> search_base.SubgraphSearch:
        """The subgraph search, started on first use (a job with nothing to tune needs none)."""
        if self._search is None:
            args = dict(self._search_args)
            self._search = search_base.create(
                args.pop("kind"), msdb=self.msdb, target=self.target, on_outcome=self._outcome, **args
            )
        return self._search

    def _record(
        self,
        sg: Subgraph,
        kind: str,
        config: Any,
        status: str,
        samples: Any = (),
        error: str = "",
        source: str = "tune",
    ) -> None:
        """Store one outcome of a subgraph on this tuner's target, for this job."""
        self.db.record(
            sg.workload_id,
            kind,
            config,
            self.msdb.target_id,
            status,
            samples,
            error=error,
            job_id=self.job_id,
            source=source,
        )

    def _outcome(self, wid: int, status: str, secs: float | None) -> None:
        if self._on_outcome is not None:
            self._on_outcome(wid, status, secs)

    def close(self) -> None:
        if self._search is not None:
            self._search.close()

    # --- 1 and 2 ------------------------------------------------------------------
    def prepare(self, name: str, source: str, module: Any, example_inputs: tuple) -> ModelPlan:
        """Import a torch model, record its subgraphs, and measure their default latency."""
        mod = importer.to_relax(module, example_inputs)
        fused = importer.fuse(mod, self.target)
        tasks = ms.relax_integration.extract_tasks(fused, self.target)
        subgraphs = []
        for task in tasks:
            wmod = task.dispatched[0]
            wid = self.msdb.add_workload(wmod, name=task.task_name)
            subgraphs.append(Subgraph(task, task.task_name, wid, int(task.weight)))
        model_id = self.db.set_model(name, "tvm", source, [(s.workload_id, s.weight) for s in subgraphs])
        inputs = [x.detach().numpy() for x in example_inputs]
        plan = ModelPlan(name, mod, inputs, model_id, subgraphs)
        for sg in subgraphs:
            sg.default_s = self.default_latency(sg)
            sg.done = self.db.count(sg.workload_id, self.msdb.target_id, source="tune")
        return plan

    def default_latency(self, sg: Subgraph) -> float:
        """The untuned subgraph's median latency: measured once per target, then read back.

        Timed like the candidates (same builder and runner), so that they compare. When the
        runner's random inputs crash it (gathers with out-of-range indices), it is timed in
        this process on safe inputs instead.
        """
        known = self.db.default_latency(sg.workload_id, self.msdb.target_id)
        if known is not None:
            return known
        wmod = sg.task.dispatched[0]
        status, samples, error = self.search.measure(wmod)
        if status != "ok":
            self._record(sg, "default", {}, status, error=error, source="default")
            timer = measure.time_func(measure.build_func(wmod, self.target), measure.random_args(wmod))
            samples = [timer() for _ in range(3)]
        self._record(sg, "default", {}, "ok", samples, source="default")
        return float(np.median(samples))

    # --- 3, 4 and 5 ---------------------------------------------------------------
    def pending(self, plan: ModelPlan, trials: int, force: bool) -> list[Subgraph]:
        """Allot the model's budget and return the subgraphs that still need work."""
        tid = self.msdb.target_id
        # Subgraphs with a fixed schedule space get exactly its size; the rest share the budget.
        sizes = [self.search.space_size(sg.task) for sg in plan.subgraphs]
        budget = max(0, trials - sum(min(z, trials) for z in sizes if z is not None))
        open_ = [sg for sg, z in zip(plan.subgraphs, sizes) if z is None]
        shares = allot(budget, [sg.default_s * sg.weight for sg in open_])
        allotted = dict(zip((id(sg) for sg in open_), shares))
        for sg, size in zip(plan.subgraphs, sizes):
            n = size if size is not None else allotted[id(sg)]
            sg.trials = n + (sg.done if force else 0)
        # Tuned before with at least this many trials (or its space ran dry): nothing to do.
        return [sg for sg in plan.subgraphs if force or not self._met(sg, tid)]

    def _met(self, sg: Subgraph, tid: int) -> bool:
        """Whether a finished tuning of this subgraph already met its allotment."""
        met = self.db.tuned_trials(sg.workload_id, tid)
        return met is not None and met >= sg.trials

    def tune(
        self,
        plan: ModelPlan,
        trials: int,
        deadline: float,
        force: bool = False,
        on_outcome: Callable[[int, str, float | None], None] | None = None,
    ) -> bool:
        """Search every pending subgraph; True when all of them finished in time."""
        self._on_outcome = on_outcome
        complete = True
        for sg in self.pending(plan, trials, force):
            if time.time() >= deadline:
                complete = False
                break
            wanted = sg.trials - sg.done
            if wanted > 0:
                # One search per subgraph: MetaSchedule stops early by itself when its design
                # space has nothing new left, which then counts as tuned.
                sg.done += self.search.run(sg.task, wanted)
            self.confirm(sg)
            # Record the allotment as met: also when the design space had nothing new left.
            self.db.mark_tuned(sg.workload_id, self.msdb.target_id, max(sg.trials, sg.done), self.job_id)
        self._on_outcome = None
        return complete

    def confirm(self, sg: Subgraph, candidates: int = 3, rounds: int = 10) -> float | None:
        """Check the best schedules' outputs against the default and time them interleaved.

        Returns the paired speedup over the default of the first that computes the same
        results, or None when none does (each mismatch is stored as a wrong result).
        """
        tid = self.msdb.target_id
        wmod = sg.task.dispatched[0]
        default_rt = measure.build_func(wmod, self.target)
        args = measure.random_args(wmod, seed=1)
        for rec in self.db.best(sg.workload_id, tid, candidates + 1):
            if rec.kind != "trace":
                continue
            try:
                cand_rt = measure.build_func(measure.apply_trace(wmod, rec.config["trace"]), self.target)
                same = measure.outputs_match(default_rt, cand_rt, args)
            except Exception as exc:  # a trace that no longer applies or builds
                self._record(
                    sg, "trace", rec.config, "build_error", error=f"confirm: {exc}"[:2000], source="confirm"
                )
                continue
            if not same:
                self._record(
                    sg,
                    "trace",
                    rec.config,
                    "wrong_result",
                    error="outputs differ from the default schedule's",
                    source="confirm",
                )
                continue
            d, t = measure.interleaved(
                measure.time_func(default_rt, args), measure.time_func(cand_rt, args), rounds
            )
            self._record(sg, "default", {}, "ok", d, source="confirm")
            self._record(sg, "trace", rec.config, "ok", t, source="confirm")
            return measure.paired_speedup(d, t)
        return None

    # --- 6 ------------------------------------------------------------------------
    def end_to_end(self, plan: ModelPlan, rounds: int = 10) -> dict[str, float]:
        """Whole-model latency, tuned vs TVM's default build, interleaved; stored and returned."""
        from autotune.backends.tvm.compile import compile as tuned_compile

        default_ex = importer.build_default(plan.mod, self.target)
        tuned_ex = tuned_compile(plan.mod, self.target, db=self.db)
        want = importer.run(default_ex, plan.inputs)
        got = importer.run(tuned_ex, plan.inputs)
        if not measure.arrays_match(want, got):
            raise RuntimeError(f"{plan.name}: tuned outputs differ from the default build's")
        d, t = measure.interleaved(
            measure.time_vm(default_ex, plan.inputs), measure.time_vm(tuned_ex, plan.inputs), rounds
        )
        speedup = measure.paired_speedup(d, t)
        self.db.add_model_measurement(plan.model_id, self.msdb.target_id, t, d, speedup, self.job_id)
        return {"default_s": float(np.median(d)), "tuned_s": float(np.median(t)), "speedup": speedup}
