"""TVM as a backend: PyTorch models through Relax, fused subgraphs as workloads, MetaSchedule
traces as configs.

A session imports a model (torch.export -> Relax), fuses it as `compile_relax` will and
takes MetaSchedule's extracted tasks as the workloads. Candidates are built in a persistent
worker pool and timed by MetaSchedule's runner (`measure`, also what the search uses);
confirmations and end-to-end comparisons build in this process and time interleaved.

Example::

    be = backends.get("tvm")
    with be.open(be.resolve_target("llvm"), db, job_id=None) as s:
        model = s.load("mlp", be.load_model("mlp"))
        ws = s.workloads(model)
        print(s.measure(ws[0], {}))
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any

import numpy as np

from autotune.backends.base import Backend, Comparison, Outcome, Session, Workload, register
from autotune.db.base import TuningDatabase
from autotune.db.records import TargetInfo


@dataclass
class TvmModel:
    """An imported model: the Relax module (weights bound, unfused) and its inputs."""

    name: str
    mod: Any
    inputs: list[np.ndarray]


@register("tvm")
class TvmBackend(Backend):
    """TVM (Relax + MetaSchedule) on llvm CPU targets."""

    config_kind = "trace"
    searches = ("evolutionary",)
    rank_pool = 8
    confirm_rounds = 10
    zoo = "tvm"

    def resolve_target(self, spec: Any) -> Any:
        from autotune.backends.tvm.workload import resolve_target

        return resolve_target(spec)

    def describe(self, target: Any) -> TargetInfo:
        from autotune.backends.tvm.workload import target_info

        return target_info(target)

    def open(self, target: Any, db: TuningDatabase, job_id: int | None, **settings: Any) -> TvmSession:
        return TvmSession(self, target, db, job_id, **settings)

    def compile(self, model: Any, target: Any, db: TuningDatabase | str | None) -> Any:
        from autotune.backends.tvm.compile import compile as tuned_compile

        return tuned_compile(model, target, db=db)

    def describe_config(self, config: Any) -> list[str]:
        """The sampled decisions of a MetaSchedule trace, e.g. 'SamplePerfectTile=[4, 1, 2, 16]'."""
        trace = config.get("trace") if isinstance(config, dict) else None
        if not isinstance(trace, list) or len(trace) != 2:
            return []
        insts, decisions = trace
        out = []
        for idx, value in decisions:
            if isinstance(idx, int) and 0 <= idx < len(insts) and isinstance(insts[idx], list) and insts[idx]:
                out.append(f"{insts[idx][0]}={value}")
        return out or ["fixed schedule (the design space samples nothing)"]


class TvmSession(Session):
    """Builds in a persistent pool, times with MetaSchedule's runner; one MetaSchedule database
    adapter over our database (the search reads and writes through it)."""

    def __init__(
        self,
        backend: Backend,
        target: Any,
        db: TuningDatabase,
        job_id: int | None,
        build_timeout_s: float = 60.0,
        run_timeout_s: float = 30.0,
    ) -> None:
        from tvm.s_tir import meta_schedule as ms

        from autotune.backends.tvm.builder import PersistentBuilder
        from autotune.backends.tvm.database import MetaScheduleDatabase

        super().__init__(backend, target, db, job_id)
        self.msdb = MetaScheduleDatabase(db, target, job_id=job_id)
        self.cores = int(target.export().get("num-cores", 1))
        self.builder = PersistentBuilder(max_workers=self.cores, timeout_sec=build_timeout_s)
        self.runner = ms.runner.LocalRunner(
            timeout_sec=run_timeout_s,
            evaluator_config=ms.runner.EvaluatorConfig(number=1, repeat=3, min_repeat_ms=15),
        )

    def close(self) -> None:
        self.builder.shutdown()

    def load(self, source: str, model: Any) -> TvmModel:
        from autotune.backends.tvm import importer

        m = model if model is not None else self.backend.load_model(source)
        mod = importer.to_relax(m.module, m.example_inputs)
        return TvmModel(m.name, mod, [x.detach().numpy() for x in m.example_inputs])

    def workloads(self, model: TvmModel) -> list[Workload]:
        import tvm
        from tvm.s_tir import meta_schedule as ms

        from autotune.backends.tvm import importer
        from autotune.backends.tvm.database import args_info_json
        from autotune.backends.tvm.workload import fingerprint

        fused = importer.fuse(model.mod, self.target)
        out = []
        for task in ms.relax_integration.extract_tasks(fused, self.target):
            wmod = task.dispatched[0]
            out.append(
                Workload(
                    fingerprint(wmod),
                    task.task_name,
                    tvm.ir.save_json(wmod),
                    {"args_info": args_info_json(wmod)},
                    int(task.weight),
                    task,
                )
            )
        return out

    def rebuild(self, row: dict[str, Any]) -> Workload | str:
        """The PrimFunc module stored as the workload's IR (refused when its structure does not
        hash to the row's fingerprint: the IR of a foreign row is data until checked)."""
        import tvm

        from autotune.backends.tvm.workload import fingerprint

        try:
            mod = tvm.ir.load_json(row["ir"])
        except Exception as exc:  # TVM's own error types for text that is no IR
            return f"its IR does not load ({type(exc).__name__})"
        if not isinstance(mod, tvm.IRModule) or fingerprint(mod) != row["fingerprint"]:
            return "its IR does not match its fingerprint"
        return Workload(row["fingerprint"], row["name"], row["ir"], row["meta"], 1, mod)

    @staticmethod
    def _prim(workload: Workload) -> Any:
        """The workload's PrimFunc module (of a MetaSchedule task, or rebuilt from its IR)."""
        handle = workload.handle
        return handle.dispatched[0] if hasattr(handle, "dispatched") else handle

    def _module(self, workload: Workload, config: Any) -> Any:
        from autotune.backends.tvm import measure, traces

        wmod = self._prim(workload)
        return measure.apply_trace(wmod, traces.require(config)) if config else wmod

    def measure(self, workload: Workload, config: Any) -> Outcome:
        """Timed like the candidates (same builder and runner), so they compare. When the
        runner's random inputs crash the default (gathers with out-of-range indices), it is
        timed in this process on safe inputs instead."""
        from autotune.backends.tvm import measure

        try:
            mod = self._module(workload, config)
        except Exception as exc:  # a trace that no longer applies
            return Outcome("build_error", error=f"{type(exc).__name__}: {exc}"[:2000])
        out = self.run_candidate(mod)
        if out.status != "ok" and not config:
            timer = measure.time_func(measure.build_func(mod, self.target), measure.random_args(mod))
            out = Outcome("ok", [timer() for _ in range(3)])
        return out

    def run_candidate(self, mod: Any) -> Outcome:
        """Build one scheduled module in the pool and time it with the runner."""
        from tvm.s_tir.meta_schedule.arg_info import ArgInfo
        from tvm.s_tir.meta_schedule.builder import BuilderInput
        from tvm.s_tir.meta_schedule.runner import RunnerInput

        from autotune.backends.tvm.recorder import classify

        built = self.builder.build([BuilderInput(mod, self.target)])[0]
        if built.error_msg:
            return Outcome(classify(built.error_msg, None, []), error=str(built.error_msg))
        args = ArgInfo.from_prim_func(next(iter(mod.functions.values())))
        device = "cpu" if self.target.kind.name == "llvm" else self.target.kind.name
        try:
            ran = self.runner.run([RunnerInput(built.artifact_path, device, args)])[0].result()
        finally:
            shutil.rmtree(os.path.dirname(built.artifact_path), ignore_errors=True)
        secs = [float(x) for x in (ran.run_secs or [])]
        status = classify(None, ran.error_msg, secs)
        return Outcome(status, secs if status == "ok" else [], str(ran.error_msg or ""))

    def compare(self, workload: Workload, base: Any, config: Any, rounds: int) -> Comparison:
        from autotune import compare
        from autotune.backends.tvm import measure

        args = measure.random_args(self._prim(workload), seed=1)
        try:
            default_rt = measure.build_func(self._module(workload, {}), self.target)
            base_rt = (
                default_rt if not base else measure.build_func(self._module(workload, base), self.target)
            )
            cand_rt = measure.build_func(self._module(workload, config), self.target)
            wrong = compare.mismatch(measure.run_func(cand_rt, args), measure.run_func(default_rt, args))
        except Exception as exc:  # a trace that no longer applies or builds
            return Comparison("build_error", error=f"{type(exc).__name__}: {exc}"[:2000])
        if wrong:
            return Comparison("wrong_result", error=f"outputs differ from the default schedule's: {wrong}")
        a, b = compare.interleaved(measure.time_func(base_rt, args), measure.time_func(cand_rt, args), rounds)
        return Comparison("ok", a, b)

    def end_to_end(self, model: TvmModel, rounds: int) -> Comparison:
        from autotune import compare
        from autotune.backends.tvm import importer, measure

        default_ex = importer.build_default(model.mod, self.target)
        tuned_ex = self.backend.compile(model.mod, self.target, self.db)
        wrong = compare.mismatch(importer.run(tuned_ex, model.inputs), importer.run(default_ex, model.inputs))
        if wrong:
            return Comparison("wrong_result", error=f"tuned outputs differ from the default build's: {wrong}")
        a, b = compare.interleaved(
            measure.time_vm(default_ex, model.inputs), measure.time_vm(tuned_ex, model.inputs), rounds
        )
        return Comparison("ok", a, b)
