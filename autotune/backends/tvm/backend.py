"""TVM as a backend: PyTorch models through Relax, fused subgraphs as workloads, MetaSchedule
traces as configs.

A session imports a model (torch.export -> Relax), fuses it as the compile-time build will and
takes MetaSchedule's extracted tasks as the workloads. Candidates are built in a persistent
worker pool and timed by MetaSchedule's runner (`measure`, also what the search uses);
confirmations and end-to-end comparisons build in this process and time interleaved.

With a `Remote` (a tracker and a device key), everything is still built here, for the
device's target (`TvmBackend.resolve_remote`), and everything timed or checked runs on the
device (`remote.py`): candidates and the defaults' runs through MetaSchedule's RPCRunner, the
rest (a default timed on safe inputs, confirmations and their output checks, warm starts'
checks, graph-level configs, end to end) in RPC sessions (`on_device`). PyTorch baselines
cannot run on a TVM RPC server: none are measured (`where` says so).

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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from autotune.backends.base import (
    Backend,
    Comparison,
    DeviceLost,
    GraphHandle,
    Outcome,
    Remote,
    Session,
    Workload,
    register,
)
from autotune.db.base import TuningDatabase
from autotune.db.records import TargetInfo

#: The untuned default of a big kernel can take minutes a run (a naive 2048 GEMM: ~90 s): its
#: first run, the probe, may take this many times a candidate's run timeout.
PROBE_TIMEOUT_FACTOR = 10
#: Samples of one graph-level candidate's end-to-end time (`measure`).
GRAPH_SAMPLES = 3


@dataclass
class TvmModel:
    """An imported model: the Relax module (weights bound, unfused) and its inputs; the PyTorch
    module it came from, and its inputs as tensors, for the baselines (`Session.baselines`)."""

    name: str
    mod: Any
    inputs: list[np.ndarray]
    torch_module: Any = None
    torch_inputs: tuple[Any, ...] = ()
    graph_decisions: list[Any] | None = None  # found once (`TvmSession.graph_decisions`)
    reference: list[np.ndarray] | None = None  # outputs of TVM's default build, once


@register("tvm")
class TvmBackend(Backend):
    """TVM (Relax + MetaSchedule) on llvm CPU targets."""

    config_kind = "trace"
    searches = ("evolutionary",)
    rank_pool = 4  # MetaSchedule's population: 64 per 16 trials (8 measured no better, 1.7x the GNN time)
    confirm_rounds = 10
    zoo = "tvm"
    baselines = {"torch": "PyTorch eager", "torch.compile": "torch.compile"}
    costly_baselines = ("torch.compile",)
    remote_engine = "tracker"

    def resolve_target(self, spec: Any) -> Any:
        from autotune.backends.tvm.workload import resolve_target

        return resolve_target(spec)

    def resolve_remote(self, spec: Any, remote: Remote) -> Any:
        """The target of a device of the tracker's key, as its TVM runtime describes itself
        (CPU, triple, features, threads; `model` "rpc:KEY"), what `spec` sets itself kept."""
        from autotune.backends.tvm.remote import describe_device
        from autotune.backends.tvm.workload import resolve_target

        return resolve_target(spec, device=describe_device(remote))

    def describe(self, target: Any) -> TargetInfo:
        from autotune.backends.tvm.workload import target_info

        return target_info(target)

    def open(self, target: Any, db: TuningDatabase, job_id: int | None, **settings: Any) -> TvmSession:
        return TvmSession(self, target, db, job_id, **settings)

    def compile(self, model: Any, target: Any, db: TuningDatabase | str | None) -> Any:
        from autotune.backends.tvm.compile import compile as tuned_compile

        return tuned_compile(model, target, db=db)

    def baseline_version(self, name: str) -> str:
        from autotune.backends.tvm import baselines

        return baselines.version(name)

    def describe_config(self, config: Any) -> list[str]:
        """The sampled decisions of a MetaSchedule trace, e.g. 'SamplePerfectTile=[4, 1, 2, 16]';
        a graph-level config as its decisions, e.g. 'layout:conv2d=NHWC'."""
        if isinstance(config, dict) and "trace" not in config:
            return super().describe_config(config)
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
    adapter over our database (the search reads and writes through it). With `remote`, times
    and checks on the tracker's devices of its key (see the module's docstring)."""

    def __init__(
        self,
        backend: Backend,
        target: Any,
        db: TuningDatabase,
        job_id: int | None,
        build_timeout_s: float = 60.0,
        run_timeout_s: float = 30.0,
        remote: Remote | None = None,
    ) -> None:
        from tvm.s_tir import meta_schedule as ms

        from autotune.backends.tvm.builder import PersistentBuilder
        from autotune.backends.tvm.database import MetaScheduleDatabase
        from autotune.backends.tvm.threads import use_cores
        from autotune.backends.tvm.workload import physical_cores

        super().__init__(backend, target, db, job_id)
        self.msdb = MetaScheduleDatabase(db, target, job_id=job_id)
        self.cores = int(target.export().get("num-cores", 1))
        #: Threads of this host for MetaSchedule's search (sampling, features, its XGBoost): the
        #: target's cores, or this host's own when the target is a remote device.
        self.search_threads = self.cores if remote is None else physical_cores()
        evaluator = ms.runner.EvaluatorConfig(number=1, repeat=3, min_repeat_ms=15)
        probe = ms.runner.EvaluatorConfig(number=1, repeat=1, min_repeat_ms=0)  # how long is the default?
        self.device: Any = None
        if remote is not None:
            from autotune.backends.tvm.remote import RemoteDevice

            self.device = RemoteDevice(remote)
            # The device's cores run the kernels; this host's build them.
            self.builder = PersistentBuilder(max_workers=physical_cores(), timeout_sec=build_timeout_s)
            self.runner = self.device.runner(run_timeout_s, evaluator)
            self.probe = self.device.runner(run_timeout_s * PROBE_TIMEOUT_FACTOR, probe)
            return
        use_cores(self.cores)  # before the runner starts its workers: they inherit it
        self.builder = PersistentBuilder(max_workers=self.cores, timeout_sec=build_timeout_s)
        self._run_timeout_s, self._evaluators = run_timeout_s, (evaluator, probe)

    # Started on first use (each checks its workers for seconds): a job whose models are all
    # tuned already runs nothing. A remote session sets both in __init__.
    @cached_property
    def runner(self) -> Any:
        """MetaSchedule's runner of candidates and defaults; its workers' TVM pools sleep when
        idle (see threads.py)."""
        from tvm.s_tir import meta_schedule as ms

        from autotune.backends.tvm.threads import no_spin

        return ms.runner.LocalRunner(
            timeout_sec=self._run_timeout_s, evaluator_config=self._evaluators[0], initializer=no_spin
        )

    @cached_property
    def probe(self) -> Any:
        """A one-run runner with a longer timeout: how long a default takes."""
        from tvm.s_tir import meta_schedule as ms

        from autotune.backends.tvm.threads import no_spin

        return ms.runner.LocalRunner(
            timeout_sec=self._run_timeout_s * PROBE_TIMEOUT_FACTOR,
            evaluator_config=self._evaluators[1],
            initializer=no_spin,
        )

    @property
    def deadline(self) -> float | None:
        return self.device.deadline if self.device is not None else None

    @deadline.setter
    def deadline(self, value: float | None) -> None:
        if self.device is not None:
            self.device.deadline = value

    def where(self) -> str:
        if self.device is None:
            return ""
        r, attrs = self.device.remote, self.target.export()
        return (
            f"measuring on device {r.key!r} of the tracker at {r.address} ({attrs.get('mcpu', '?')}, "
            f"{self.cores} thread(s)): candidates, defaults, confirmations and their output checks, "
            "graph-level configs and end to end run there; builds here; PyTorch baselines skipped "
            "(they cannot run on a TVM RPC server)"
        )

    def on_device(self, fn: Any, what: str = "a measurement") -> Any:
        """`fn(place)` where this session's kernels run (`measure.HERE`, or one RPC session on
        the device: `remote.RemoteDevice.call`); `place.load(executable)` makes a build runnable
        there, `place.dev` is its device."""
        from autotune.backends.tvm import measure

        return fn(measure.HERE) if self.device is None else self.device.call(fn, what)

    def raise_if_lost(self) -> None:
        """DeviceLost again when the device was given up during an operation that reports its
        errors its own way (MetaSchedule's loop turns the runner's exceptions into RuntimeErrors)."""
        if self.device is not None and self.device.lost is not None:
            raise self.device.lost from None

    def close(self) -> None:
        self.builder.shutdown()

    def load(self, source: str, model: Any) -> TvmModel:
        from autotune.backends.tvm import importer

        m = model if model is not None else self.backend.load_model(source)
        mod = importer.to_relax(m.module, m.example_inputs)
        inputs = [x.detach().numpy() for x in m.example_inputs]
        return TvmModel(m.name, mod, inputs, m.module, tuple(m.example_inputs))

    def workloads(self, model: TvmModel, graph: dict[str, Any] | None = None) -> list[Workload]:
        import tvm
        from tvm.s_tir import meta_schedule as ms

        from autotune.backends.tvm.database import args_info_json
        from autotune.backends.tvm.workload import fingerprint

        fused = self._fused(model, graph)
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

    def _fused(self, model: TvmModel, graph: dict[str, Any] | None) -> Any:
        """The model legalized and fused under a graph-level config ({}/None: TVM's own graph)."""
        from autotune.backends.tvm import importer
        from autotune.backends.tvm.graph import build_of

        return importer.fuse(model.mod, self.target, graph=build_of(graph) if graph else None)

    def _subgraph_set(self, model: TvmModel, graph: dict[str, Any] | None) -> frozenset[str]:
        """Fingerprints of the fused PrimFuncs of a graph-level config (what it would tune)."""
        from tvm import tirx

        from autotune.backends.tvm.workload import fingerprint

        fused = self._fused(model, graph)
        return frozenset(fingerprint(f) for f in fused.functions.values() if isinstance(f, tirx.PrimFunc))

    def graph_decisions(self, model: TvmModel) -> list[Any]:
        """The TVM passes' decisions for the model (autotune/passes/tvm_*.py), less those none
        of whose choices changes a single subgraph of the model (the space stays small)."""
        from autotune import passes
        from autotune.backends.tvm import graph

        if model.graph_decisions is None:
            offered = graph.decisions(graph.graph_info(model.mod))
            base = self._subgraph_set(model, None)
            kept = []
            for d in offered:
                for choice in reversed(d.choices):  # the boldest choice first: one fuse, mostly
                    if choice in (d.default, None):
                        continue
                    if self._subgraph_set(model, passes.normalize({d.name: choice}, offered)) != base:
                        kept.append(d)
                        break
            model.graph_decisions = kept
        return list(model.graph_decisions)

    def graph_fingerprint(self, model: TvmModel) -> str | None:
        from autotune.backends.tvm.graph import graph_fingerprint

        return graph_fingerprint(model.mod)

    def graph_workload(self, model: TvmModel) -> Workload | None:
        import json

        from autotune.backends.tvm import graph

        decisions = self.graph_decisions(model)
        if not decisions:
            return None
        info = graph.graph_info(model.mod)
        fp = graph.graph_fingerprint(model.mod)
        meta = {"level": "graph", "decisions": [d.name for d in decisions]}
        ir = json.dumps(info, sort_keys=True)
        return Workload(fp, f"{model.name}:graph", ir, meta, 1, GraphHandle(model), graph.GRAPH_COMPILER)

    def decisions(self, workload: Workload) -> list[Any]:
        if isinstance(workload.handle, GraphHandle):
            return self.graph_decisions(workload.handle.model)
        return []

    def space(self, workload: Workload) -> tuple[list[Any], int]:
        """A subgraph's MetaSchedule design space as decisions: which of its sketches, and in
        each, the tile sizes it samples (kind tile) and its sampled unroll / vectorize /
        parallel extents (kind codegen), with every choice the sampler can make; its size is
        the untuned schedule plus, per sketch, the product of its decisions' choices."""
        from autotune.backends.tvm.space import sampled_decisions, sketch_space_size

        if isinstance(workload.handle, GraphHandle):
            return super().space(workload)
        decisions = sampled_decisions(self._prim(workload), self.target)
        return decisions, sketch_space_size(decisions)

    def rebuild(self, row: dict[str, Any]) -> Workload | str:
        """The PrimFunc module stored as the workload's IR (refused when its structure does not
        hash to the row's fingerprint: the IR of a foreign row is data until checked)."""
        import tvm

        from autotune.backends.tvm.graph import GRAPH_PREFIX
        from autotune.backends.tvm.workload import fingerprint

        if str(row["fingerprint"]).startswith(GRAPH_PREFIX):
            return "a graph-level workload is measured with its model: tune the model again"
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

    def floor(self, workload: Workload) -> float | None:
        """The PrimFunc's roofline: its floating-point operations (TVM's estimate) at the
        host's GEMM peak, the bytes of its arguments at its copy bandwidth; None for
        symbolic shapes, and on a remote device (this host's peaks say nothing of it)."""
        import tvm
        from tvm.s_tir.analysis import estimate_tir_flops
        from tvm.s_tir.meta_schedule.arg_info import ArgInfo

        from autotune.backends.roofline import floor_s

        if isinstance(workload.handle, GraphHandle) or self.device is not None:
            return None
        mod = self._prim(workload)
        nbytes = 0
        for arg in ArgInfo.from_prim_func(next(iter(mod.functions.values()))):
            dims = [getattr(d, "value", d) for d in arg.shape]
            if not all(isinstance(d, int) for d in dims):
                return None
            dtype = tvm.DataType(str(arg.dtype))
            nbytes += int(np.prod(dims, dtype=np.int64)) * dtype.bits * dtype.lanes // 8
        return floor_s(float(estimate_tir_flops(mod)), float(nbytes))

    def _module(self, workload: Workload, config: Any) -> Any:
        from autotune.backends.tvm import measure, traces

        wmod = self._prim(workload)
        return measure.apply_trace(wmod, traces.require(config)) if config else wmod

    def measure(self, workload: Workload, config: Any) -> Outcome:
        """Timed like the candidates (same builder and runner), so they compare. The default
        is first run once: one run of `compare.LONG_RUN_S` or more is its measurement. When
        the runner's random inputs crash the default (gathers with out-of-range indices), it
        is timed in this process on safe inputs instead (one run, when that one is long).
        The default's time counts as `timing.default`, a candidate's as compile and run.
        A graph workload's config is the whole model built under it (`_measure_graph`)."""
        if isinstance(workload.handle, GraphHandle):
            return self._measure_graph(workload.handle, config)
        if config:
            return self._measure(workload, config)
        t0, compile_s, run_s = time.perf_counter(), self.timing.compile, self.timing.run
        try:
            return self._measure(workload, config)
        finally:
            self.timing.compile, self.timing.run = compile_s, run_s
            self.timing.default += time.perf_counter() - t0

    def _measure(self, workload: Workload, config: Any) -> Outcome:
        from autotune.compare import LONG_RUN_S

        try:
            mod = self._module(workload, config)
        except Exception as exc:  # a trace that no longer applies
            return Outcome("build_error", error=f"{type(exc).__name__}: {exc}"[:2000])
        if config:
            return self.run_candidate(mod)
        with self._built(mod) as (path, _):  # the default: built once, probed, then timed
            if path is not None:
                probe = self._run(path, mod, self.probe)
                if probe.status == "ok" and min(probe.samples) >= LONG_RUN_S:
                    return probe
                if probe.status == "timeout":  # over the probe's timeout: one run here says how long
                    return Outcome("ok", self._time_here(mod, long=True))
                out = self._run(path, mod)
                if out.status == "ok":
                    return out
        return Outcome("ok", self._time_here(mod))  # the pool could not build or run it

    def _time_here(self, mod: Any, long: bool = False) -> list[float]:
        """A module built here and timed in one process where kernels run (this one, or a
        session on the device), on safe inputs, with no warm-up run: its first run alone when
        `long` or when that run is long enough to be the measurement, else 3 more samples."""
        from autotune.backends.tvm import measure
        from autotune.compare import LONG_RUN_S

        ex, args = measure.compile_func(mod, self.target), measure.random_args(mod)

        def timed(place: Any) -> list[float]:
            timer = measure.time_func(place.load(ex), args, warm=False, dev=place.dev)
            first = timer()
            return [first] if long or first >= LONG_RUN_S else [timer() for _ in range(3)]

        return self.on_device(timed, "the default's timing")

    def run_candidate(self, mod: Any, runner: Any = None) -> Outcome:
        """Build one scheduled module in the pool and time it with the runner (or `runner`)."""
        with self._built(mod) as (path, failed):
            return failed if path is None else self._run(path, mod, runner)

    @contextmanager
    def _built(self, mod: Any) -> Iterator[tuple[str | None, Outcome | None]]:
        """`mod` built in the pool: (the artifact's path, None), removed when the block ends; or
        (None, the failed build's outcome)."""
        from tvm.s_tir.meta_schedule.builder import BuilderInput

        from autotune.backends.tvm.recorder import classify

        t0 = time.perf_counter()
        built = self.builder.build([BuilderInput(mod, self.target)])[0]
        self.timing.compile += time.perf_counter() - t0
        if built.error_msg:
            yield None, Outcome(classify(built.error_msg, None, []), error=str(built.error_msg))
            return
        try:
            yield built.artifact_path, None
        finally:
            shutil.rmtree(os.path.dirname(built.artifact_path), ignore_errors=True)

    def _run(self, path: str, mod: Any, runner: Any = None) -> Outcome:
        """Time a built artifact of `mod` with the runner (or `runner`); the artifact stays."""
        from tvm.s_tir.meta_schedule.runner import RunnerInput

        from autotune.backends.tvm import measure
        from autotune.backends.tvm.recorder import classify

        args = measure.arg_info(mod)  # packed weight layouts, as the builder builds it
        device = "cpu" if self.target.kind.name == "llvm" else self.target.kind.name
        t0 = time.perf_counter()
        try:
            ran = (runner or self.runner).run([RunnerInput(path, device, args)])[0].result()
        except Exception:  # a remote runner that gave the device up: DeviceLost
            self.raise_if_lost()
            raise
        finally:
            self.timing.run += time.perf_counter() - t0
        secs = [float(x) for x in (ran.run_secs or [])]
        status = classify(None, ran.error_msg, secs)
        return Outcome(status, secs if status == "ok" else [], str(ran.error_msg or ""))

    def _reference(self, model: TvmModel, place: Any) -> list[np.ndarray]:
        """The outputs of TVM's default build of the model (what every config must compute),
        run at `place` once."""
        from autotune.backends.tvm import importer

        if model.reference is None:
            ex = importer.build_default(model.mod, self.target)
            model.reference = importer.run(place.load(ex), model.inputs, dev=place.dev)
        return model.reference

    def _build_graph(self, handle: GraphHandle, config: dict[str, Any]) -> Any:
        """The model built under a graph-level config with the database's best schedules."""
        from autotune.backends.tvm.compile import compile as tuned_compile

        t0 = time.perf_counter()
        try:
            return tuned_compile(handle.model.mod, self.target, db=self.db, graph_config=config, strict=True)
        finally:
            self.timing.compile += time.perf_counter() - t0

    def _loaded_graph(self, handle: GraphHandle, place: Any, ex: Any) -> tuple[Any, str]:
        """A graph-level build loaded at `place`, and how its outputs differ from TVM's default
        build's ('' when they match)."""
        from autotune import compare
        from autotune.backends.tvm import importer

        t0 = time.perf_counter()
        try:
            model = handle.model
            reference = self._reference(model, place)
            loaded = place.load(ex)
            return loaded, compare.mismatch(importer.run(loaded, model.inputs, dev=place.dev), reference)
        finally:
            self.timing.compile += time.perf_counter() - t0

    def _measure_graph(self, handle: GraphHandle, config: dict[str, Any]) -> Outcome:
        """The model end to end under a graph-level config, its subgraphs that no earlier
        config had tuned first (`handle.prepare`, which may raise to stop the search)."""
        from autotune.backends.tvm import measure

        if handle.prepare is not None:
            handle.prepare(config or {})

        def on(place: Any) -> Outcome:
            try:
                loaded, wrong = self._loaded_graph(handle, place, ex)
            except Exception as exc:  # a config this compiler cannot build or run
                if self.device is not None and _lost(exc):
                    raise
                return Outcome("build_error", error=f"{type(exc).__name__}: {exc}"[:2000])
            if wrong:
                return Outcome("wrong_result", error=f"outputs differ from TVM's default build's: {wrong}")
            t0 = time.perf_counter()
            try:
                timer = measure.time_vm(loaded, handle.model.inputs, dev=place.dev)
                return Outcome("ok", [timer() for _ in range(GRAPH_SAMPLES)])
            finally:
                self.timing.run += time.perf_counter() - t0

        try:
            ex = self._build_graph(handle, config or {})
        except Exception as exc:  # a config this compiler cannot build
            return Outcome("build_error", error=f"{type(exc).__name__}: {exc}"[:2000])
        return self.on_device(on, "a graph-level config's measurement")

    def _compare_graph(self, handle: GraphHandle, base: Any, config: Any, rounds: int) -> Comparison:
        from autotune import compare
        from autotune.backends.tvm import measure

        if handle.prepare is not None:
            handle.prepare(base or {})
            handle.prepare(config or {})

        def on(place: Any) -> Comparison:
            try:
                base_vm, _ = self._loaded_graph(handle, place, base_ex)
                cand_vm, wrong = self._loaded_graph(handle, place, cand_ex)
            except Exception as exc:
                if self.device is not None and _lost(exc):
                    raise
                return Comparison("build_error", error=f"{type(exc).__name__}: {exc}"[:2000])
            if wrong:
                return Comparison("wrong_result", error=f"outputs differ from TVM's default build's: {wrong}")
            t0 = time.perf_counter()
            inputs, dev = handle.model.inputs, place.dev
            a, b = compare.interleaved(
                measure.time_vm(base_vm, inputs, dev=dev), measure.time_vm(cand_vm, inputs, dev=dev), rounds
            )
            self.timing.run += time.perf_counter() - t0
            return Comparison("ok", a, b)

        try:
            base_ex = self._build_graph(handle, base or {})
            cand_ex = self._build_graph(handle, config or {})
        except Exception as exc:
            return Comparison("build_error", error=f"{type(exc).__name__}: {exc}"[:2000])
        return self.on_device(on, "a graph-level comparison")

    def compare(self, workload: Workload, base: Any, config: Any, rounds: int) -> Comparison:
        from autotune import compare
        from autotune.backends.tvm import measure

        if isinstance(workload.handle, GraphHandle):
            return self._compare_graph(workload.handle, base, config, rounds)
        check = measure.random_args(self._prim(workload), seed=1, prepacked=False)
        t0 = time.perf_counter()
        try:
            default_mod = self._module(workload, {})
            base_mod = default_mod if not base else self._module(workload, base)
            cand_mod = self._module(workload, config)
            # Outputs are checked with each weight packing in (the weights as the model has
            # them); timing is of the kernels as deployed, on weights packed beforehand.
            default_ex = measure.compile_func(default_mod, self.target)
            check_ex = measure.compile_func(cand_mod, self.target, prepacked=False)
            base_ex = default_ex if base_mod is default_mod else measure.compile_func(base_mod, self.target)
            cand_ex = measure.compile_func(cand_mod, self.target)
        except Exception as exc:  # a trace that no longer applies or builds
            return Comparison("build_error", error=f"{type(exc).__name__}: {exc}"[:2000])
        finally:
            self.timing.compile += time.perf_counter() - t0  # the builds and the output check

        def on(place: Any) -> Comparison:
            dev = place.dev
            t0 = time.perf_counter()
            try:
                default_fn = place.load(default_ex)
                ran = time.perf_counter()
                default_out = measure.run_func(default_fn, check, dev=dev)
                long_default = not base and time.perf_counter() - ran >= compare.LONG_RUN_S
                cand_out = measure.run_func(place.load(check_ex), check, dev=dev)
                wrong = compare.mismatch(cand_out, default_out)
                base_t = measure.time_func(  # a long default just ran: no warm-up run of it
                    default_fn if base_ex is default_ex else place.load(base_ex),
                    measure.random_args(base_mod, 1),
                    warm=not long_default,
                    dev=dev,
                )
                cand_t = measure.time_func(place.load(cand_ex), measure.random_args(cand_mod, 1), dev=dev)
            except Exception as exc:  # a schedule that does not run
                if self.device is not None and _lost(exc):
                    raise
                return Comparison("build_error", error=f"{type(exc).__name__}: {exc}"[:2000])
            finally:
                self.timing.compile += time.perf_counter() - t0
            if wrong:
                return Comparison(
                    "wrong_result", error=f"outputs differ from the default schedule's: {wrong}"
                )
            t0 = time.perf_counter()
            a, b = compare.interleaved(base_t, cand_t, rounds)
            self.timing.run += time.perf_counter() - t0
            return Comparison("ok", a, b)

        return self.on_device(on, "a confirmation")

    def end_to_end(self, model: TvmModel, rounds: int) -> Comparison:
        from autotune import compare
        from autotune.backends.tvm import importer, measure

        t0 = time.perf_counter()
        default_ex = importer.build_default(model.mod, self.target)
        tuned_ex = self.backend.compile(model.mod, self.target, self.db)
        self.timing.compile += time.perf_counter() - t0

        def on(place: Any) -> Comparison:
            dev = place.dev
            t0 = time.perf_counter()
            default_vm, tuned_vm = place.load(default_ex), place.load(tuned_ex)
            ran = time.perf_counter()
            reference = importer.run(default_vm, model.inputs, dev=dev)
            long_default = time.perf_counter() - ran >= compare.LONG_RUN_S  # no warm-up run of it
            wrong = compare.mismatch(importer.run(tuned_vm, model.inputs, dev=dev), reference)
            self.timing.compile += time.perf_counter() - t0
            if wrong:
                return Comparison(
                    "wrong_result", error=f"tuned outputs differ from the default build's: {wrong}"
                )
            t0 = time.perf_counter()
            a, b = compare.interleaved(
                measure.time_vm(default_vm, model.inputs, warm=not long_default, dev=dev),
                measure.time_vm(tuned_vm, model.inputs, dev=dev),
                rounds,
            )
            self.timing.run += time.perf_counter() - t0
            return Comparison("ok", a, b)

        return self.on_device(on, "the end-to-end comparison")

    def baselines(self, model: TvmModel, rounds: int, names: Any = None) -> dict[str, Any]:
        """PyTorch eager and torch.compile of the model's torch module, each timed interleaved
        with the tuned build, outputs checked against TVM's default build (baselines.py).
        None on a remote device: PyTorch cannot run on a TVM RPC server (`where` says so)."""
        from autotune.backends.tvm import baselines, importer

        offered = self.backend.baselines
        wanted = [n for n in (offered if names is None else names) if n in offered]
        if not wanted or model.torch_module is None or self.device is not None:
            return {}
        default_ex = importer.build_default(model.mod, self.target)
        tuned_ex = self.backend.compile(model.mod, self.target, self.db)
        module, args = model.torch_module, model.torch_inputs
        return baselines.measure(module, args, model.inputs, default_ex, tuned_ex, self.cores, rounds, wanted)


def _lost(exc: BaseException) -> bool:
    """Whether an exception of a remote operation says its RPC session died under it (the
    device's own `call` then waits for a device and runs it again)."""
    from autotune.backends.tvm.remote import is_lost

    return isinstance(exc, DeviceLost) or is_lost(str(exc))
