"""MetaSchedule's evolutionary search over a TVM subgraph's design space, on our database.

The design space is MetaSchedule's post-order-apply space (multi-level tiling, unroll,
vectorize, parallel); the search is its evolutionary strategy guided by its cost model;
the database it reads and writes is ours (warm start from the best traces so far), and
every outcome is committed by `RecordOutcomes`. Builds run in a persistent worker pool.

Example::

    search = create("evolutionary", msdb=msdb, target=target, on_outcome=bar_update)
    search.run(extracted_task, trials=32)
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from tvm.s_tir import meta_schedule as ms

from autotune.backends.tvm.builder import PersistentBuilder
from autotune.backends.tvm.database import MetaScheduleDatabase
from autotune.backends.tvm.fastimport import import_tensor_intrin
from autotune.backends.tvm.recorder import RecordOutcomes
from autotune.search.base import SubgraphSearch, register


def quiet_metaschedule() -> None:
    """MetaSchedule logs tables at INFO to the console; our progress bar replaces them."""
    root = logging.getLogger("tvm.s_tir.meta_schedule")
    root.setLevel(logging.WARNING)
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)


@register("evolutionary")
class EvolutionarySearch(SubgraphSearch):
    """MetaSchedule evolutionary search with XGBoost cost model, our builder and database."""

    def __init__(
        self,
        msdb: MetaScheduleDatabase,
        target: Any,
        trials_per_iter: int = 16,
        on_outcome: Callable[[int, str, float | None], None] | None = None,
        cost_model: str = "xgb",
        seed: int | None = None,
        build_timeout_s: float = 60.0,
        run_timeout_s: float = 30.0,
    ) -> None:
        quiet_metaschedule()
        self.uses_gnn = False
        import_tensor_intrin()  # TuneContext needs it; 23 s -> 3 s (see fastimport.py)
        self.msdb = msdb
        self.target = target
        self.trials_per_iter = trials_per_iter
        self.seed = seed
        cores = int(target.export().get("num-cores", 1))
        self.builder = PersistentBuilder(max_workers=cores, timeout_sec=build_timeout_s)
        self.runner = ms.runner.LocalRunner(
            timeout_sec=run_timeout_s,
            evaluator_config=ms.runner.EvaluatorConfig(number=1, repeat=3, min_repeat_ms=15),
        )
        self.cost_model = self._cost_model(cost_model, cores)
        self.callbacks = [
            RecordOutcomes(msdb, on_outcome),
            ms.measure_callback.RemoveBuildArtifact(),
            ms.measure_callback.UpdateCostModel(),
        ]
        self._workdir = tempfile.TemporaryDirectory(prefix="autotune-ms-")
        self._sizes: dict[str, int | None] = {}

    def _cost_model(self, spec: str, cores: int) -> Any:
        """MetaSchedule's own ('xgb', 'random', 'mlp'), or ours: 'pretrained' (the shipped
        GNN; MetaSchedule's XGBoost when none ships) or a checkpoint path, wrapped as a
        PyCostModel that learns online from this job's measurements."""
        if spec in ("xgb", "random", "mlp", "none"):
            kind = "random" if spec == "none" else spec
            extra = {"num_tuning_cores": cores} if kind == "xgb" else {}
            return ms.cost_model.CostModel.create(kind, **extra)
        from autotune.costmodel.metaschedule import ScoreModelCostModel
        from autotune.costmodel.ranker import load_model

        model = load_model("tvm", spec)
        if model is None:
            return ms.cost_model.CostModel.create("xgb", num_tuning_cores=cores)

        def reference(mod: Any) -> float | None:
            wid = self.msdb.workload_id(mod)
            return None if wid is None else self.msdb.db.default_latency(wid, self.msdb.target_id)

        self.uses_gnn = True
        return ScoreModelCostModel(model, reference=reference)

    def _strategy(self) -> Any:
        """MetaSchedule's evolutionary search; with our GNN a smaller population (128, 3
        generations: ~4x fewer candidates to featurize and rank per batch), since the model,
        not the population size, is what picks the candidates worth measuring."""
        if not self.uses_gnn:
            return "evolutionary"
        return ms.search_strategy.EvolutionarySearch(population_size=128, genetic_num_iters=3)

    def _contexts(self, task: Any, strategy: Any = "evolutionary") -> tuple[list[Any], list[float]]:
        contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(
            [task],
            self._workdir.name,
            strategy=strategy,
            seed=self.seed,
            num_threads=int(self.target.export().get("num-cores", 1)),
        )
        quiet_metaschedule()  # creating contexts re-installs MetaSchedule's console handler
        return contexts, weights

    def space_size(self, task: Any) -> int | None:
        """The number of distinct candidates when the design space samples nothing, else None.

        Element-wise and data-movement subgraphs often have a single fixed schedule; an
        evolutionary search would spend a minute discovering that nothing new is left.
        """
        key = task.task_name
        if key not in self._sizes:
            contexts, _ = self._contexts(task)
            spaces = contexts[0].generate_design_space() if contexts else []
            fixed = all(len(sp.trace.decisions) == 0 for sp in spaces)
            self._sizes[key] = len(spaces) if fixed else None
        return self._sizes[key]

    def run(self, task: Any, trials: int) -> int:
        """Measure up to `trials` new candidates of one extracted task."""
        if trials <= 0:
            return 0
        size = self.space_size(task)
        if size is not None:  # a fixed space: measure its schedules once, no search
            trials = min(trials, size)
            contexts, weights = self._contexts(task, ms.search_strategy.ReplayTrace())
        else:
            contexts, weights = self._contexts(task, self._strategy())
        if not contexts:
            return 0
        wid = self.msdb.add_workload(contexts[0].mod)
        before = self.msdb.db.count(wid, self.msdb.target_id)
        ms.tune_tasks(
            tasks=contexts,
            task_weights=weights,
            work_dir=self._workdir.name,
            max_trials_global=trials,
            max_trials_per_task=trials,
            num_trials_per_iter=min(self.trials_per_iter, trials),
            builder=self.builder,
            runner=self.runner,
            database=self.msdb,
            cost_model=self.cost_model,
            measure_callbacks=self.callbacks,
            task_scheduler="round-robin",
        )
        return self.msdb.db.count(wid, self.msdb.target_id) - before

    def measure(self, mod: Any) -> tuple[str, list[float], str]:
        """Build and time one module exactly as candidates are: (status, seconds, error)."""
        from tvm.s_tir.meta_schedule.arg_info import ArgInfo
        from tvm.s_tir.meta_schedule.builder import BuilderInput
        from tvm.s_tir.meta_schedule.runner import RunnerInput

        from autotune.backends.tvm.recorder import classify

        built = self.builder.build([BuilderInput(mod, self.target)])[0]
        if built.error_msg:
            return classify(built.error_msg, None, []), [], str(built.error_msg)
        func = next(iter(mod.functions.values()))
        args = ArgInfo.from_prim_func(func)
        device = "cpu" if self.target.kind.name == "llvm" else self.target.kind.name
        try:
            ran = self.runner.run([RunnerInput(built.artifact_path, device, args)])[0].result()
        finally:
            shutil.rmtree(os.path.dirname(built.artifact_path), ignore_errors=True)
        secs = [float(x) for x in (ran.run_secs or [])]
        status = classify(None, ran.error_msg, secs)
        return status, secs if status == "ok" else [], str(ran.error_msg or "")

    def close(self) -> None:
        self.builder.shutdown()
        self._workdir.cleanup()
