"""MetaSchedule's evolutionary search over a TVM subgraph's design space, on our database.

The design space is MetaSchedule's post-order-apply space for the target (multi-level
tiling, unroll, vectorize, parallel, weight layout rewriting) with our register-blocked
tiles for the target's vector width added (`autotune.backends.tvm.space`). The search is
its evolutionary strategy, guided by our cost model when the job has one (a
`PyCostModel` over it), else by MetaSchedule's own XGBoost surrogate; the database it
reads and writes is ours (warm start from the fastest traces so far; a fresh workload
first measures the fastest traces of similar workloads replayed on it, see
`autotune.backends.tvm.transfer`), and every outcome is committed through the job's
`Recorder`. Builds run in the TVM session's persistent worker pool, timing in its runner.

Example::

    search = create("evolutionary", session=tvm_session, record=recorder, on_outcome=bar_update)
    search.run(extracted_task, trials=32)
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from typing import Any

from tvm.s_tir import meta_schedule as ms

from autotune import interrupts
from autotune.backends.tvm.fastimport import import_tensor_intrin
from autotune.backends.tvm.recorder import RecordOutcomes
from autotune.db.recorder import Recorder
from autotune.search.base import SubgraphSearch, register


def quiet_metaschedule() -> None:
    """MetaSchedule logs tables at INFO to the console; our progress bar replaces them."""
    root = logging.getLogger("tvm.s_tir.meta_schedule")
    root.setLevel(logging.WARNING)
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)


def drop_foreign_handlers() -> None:
    """Remove handlers that MetaSchedule did not name from its logger. Its context creation
    rebuilds the logging config from the handler names on that logger, and fails on any
    handler without one ("'NoneType' object has no attribute 'format'"), e.g. one a
    logging setup of the user's (or pytest's) left there."""
    root = logging.getLogger("tvm.s_tir.meta_schedule")
    for handler in list(root.handlers):
        if not (handler.get_name() or "").startswith(root.name):
            root.removeHandler(handler)


#: Traces of similar workloads measured first on a fresh workload (see `warm_start`).
WARM_START = 4
#: With our cost model, the warm start measures the replays it ranks best (of up to
#: `transfer.RANK_POOL`), not those of the most similar sources.
WARM_RANK = True
#: Generations of the evolutionary search per batch with our cost model (MetaSchedule: 4).
GENERATIONS = 3


@register("evolutionary")
class EvolutionarySearch(SubgraphSearch):
    """MetaSchedule's evolutionary search in a TVM session, on our database.

    `model` is our cost model (autotune.costmodel) or None for MetaSchedule's XGBoost;
    with a model, `rank_pool` is how many candidates it ranks per measured one (the
    population of each generation is rank_pool x trials_per_iter).
    """

    def __init__(
        self,
        session: Any,
        record: Recorder,
        trials_per_iter: int = 16,
        on_outcome: Callable[[int, str, float | None], None] | None = None,
        model: Any = None,
        rank_pool: int = 4,
        seed: int | None = None,
    ) -> None:
        quiet_metaschedule()
        import_tensor_intrin()  # TuneContext needs it; 23 s -> 3 s (see fastimport.py)
        self.session = session
        self.msdb = session.msdb
        self.target = session.target
        self.trials_per_iter = trials_per_iter
        self.rank_pool = rank_pool
        self.seed = seed
        self.uses_gnn = model is not None
        self.cost_model = self._cost_model(model, session.search_threads)
        self.record, self.on_outcome = record, on_outcome
        self.callbacks = [
            RecordOutcomes(record, self.target, self.msdb.add_workload, on_outcome),
            ms.measure_callback.RemoveBuildArtifact(),
            ms.measure_callback.UpdateCostModel(),
        ]
        self._workdir = tempfile.TemporaryDirectory(prefix="autotune-ms-")
        self._sizes: dict[str, int | None] = {}

    def _cost_model(self, model: Any, cores: int) -> Any:
        """MetaSchedule's XGBoost without a model of ours; with one, a PyCostModel over it that
        learns online from this job's measurements, relative to each workload's default."""
        if model is None:
            return ms.cost_model.CostModel.create("xgb", num_tuning_cores=cores)
        from autotune.costmodel.metaschedule import ScoreModelCostModel

        def reference(mod: Any) -> float | None:
            wid = self.msdb.workload_id(mod)
            return None if wid is None else self.msdb.db.default_latency(wid, self.msdb.target_id)

        return ScoreModelCostModel(model, reference=reference)

    def _strategy(self) -> Any:
        """MetaSchedule's evolutionary search; with our GNN a smaller population (rank_pool x
        trials_per_iter, 64 by default, and 3 generations: ~10x fewer candidates to featurize
        and rank per batch than MetaSchedule's 512 and 4), since the model,
        not the population size, is what picks the candidates worth measuring. Featurizing
        is most of the model's time (MetaSchedule's per-store extractor, 1-4 ms a candidate)."""
        if not self.uses_gnn:
            return "evolutionary"
        population = self.rank_pool * self.trials_per_iter
        return ms.search_strategy.EvolutionarySearch(
            population_size=population, genetic_num_iters=GENERATIONS
        )

    def _contexts(self, task: Any, strategy: Any = "evolutionary") -> tuple[list[Any], list[float]]:
        from autotune.backends.tvm.space import design_space

        drop_foreign_handlers()

        contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(
            [task],
            self._workdir.name,
            space=design_space(self.target),
            strategy=strategy,
            seed=self.seed,
            num_threads=self.session.search_threads,
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
        built = self.session.builder.seconds
        if before == 0 and size is None:
            trials -= self.warm_start(contexts[0], wid, trials)
            if trials <= 0:
                return self.msdb.db.count(wid, self.msdb.target_id) - before
        try:
            with interrupts.native():  # Ctrl-C waits for the batch's end (interrupts.py)
                ms.tune_tasks(
                    tasks=contexts,
                    task_weights=weights,
                    work_dir=self._workdir.name,
                    max_trials_global=trials,
                    max_trials_per_task=trials,
                    num_trials_per_iter=min(self.trials_per_iter, trials),
                    builder=self.session.builder,
                    runner=self.session.runner,
                    database=self.msdb,
                    cost_model=self.cost_model,
                    measure_callbacks=self.callbacks,
                    task_scheduler="round-robin",
                )
        except Exception:  # a remote device given up reaches us as a RuntimeError: DeviceLost
            self.session.raise_if_lost()
            raise
        self.session.timing.compile += self.session.builder.seconds - built  # the search's builds
        return self.msdb.db.count(wid, self.msdb.target_id) - before

    def warm_start(self, context: Any, wid: int, trials: int) -> int:
        """On a fresh workload, measure first the fastest traces of the most similar workloads
        tuned on this target, replayed on this one and checked to compute what its default
        computes (`transfer.similar_schedules`): at most `WARM_START` of them and an eighth
        of the trials; with our cost model, those of the replays it ranks best (`WARM_RANK`).
        Measured and recorded like any candidate, they are in the database the evolutionary
        search draws its first population from. Returns how many ran."""
        from autotune.backends.tvm.threads import settle
        from autotune.backends.tvm.transfer import MAX_REFERENCE_S, similar_schedules

        db, tid = self.msdb.db, self.msdb.target_id
        limit = min(WARM_START, trials // 8)
        default_s = db.default_latency(wid, tid)
        if limit <= 0 or default_s is None or default_s > MAX_REFERENCE_S:
            return 0
        name = str(db.workload_by_id(wid)["name"])  # the task's name (the module's is "main")

        def by_model(schedules: list[Any]) -> Any:
            cands = [ms.search_strategy.MeasureCandidate(sch, []) for sch in schedules]
            return self.cost_model.scores(context, cands)

        rank = by_model if self.uses_gnn and WARM_RANK else None

        found = similar_schedules(
            db,
            tid,
            context.mod,
            name,
            limit,
            self.target,
            exclude=wid,
            on_device=self.session.on_device,
            rank=rank,
        )
        if found:
            settle()  # the replays' checks ran here: their spinning workers would slow the timing
        for config, sch_mod in found:
            out = self.session.run_candidate(sch_mod)
            self.record(wid, config, out.status, out.samples, error=out.error)
            if self.on_outcome is not None:
                self.on_outcome(wid, out.status, min(out.samples) if out.status == "ok" else None)
        return len(found)

    def close(self) -> None:
        self._workdir.cleanup()
