"""Tuned TVM against what users run instead: PyTorch eager (and numpy's BLAS for GEMMs).

    .venv/bin/python benchmarks/vs_pytorch.py                          # every single-op workload, 64 + 256
    .venv/bin/python benchmarks/vs_pytorch.py --workloads dense-bert-ffn1,gemm-1024 --trials 64
    .venv/bin/python benchmarks/vs_pytorch.py --models bert-base-layer --trials-per-subgraph 64
    .venv/bin/python benchmarks/vs_pytorch.py --quick                  # one small dense, 16 trials

For each workload, in one run: autotune tunes it (a fresh subprocess, a fresh database) to
the first trial count, the database is copied, and the same job resumes to the next count;
stock MetaSchedule does the same in its own subprocesses (its JSON work dir copied and
tuned further). Then this process builds every executable, checks every output against
PyTorch's, and times them all interleaved.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

NAME = "vs_pytorch"

METHOD = """\
Method. Target: autotune.backends.tvm.workload.resolve_target("llvm") (this CPU's mcpu as LLVM
names it, num-cores = the cores available); PyTorch with torch.set_num_threads(num-cores), numpy's
BLAS with its default threads (all cores). Tuning, per workload, each tuner in fresh Python
subprocesses: (a) autotune: ModelTuner.prepare + tune (our design space: MetaSchedule's rules plus
register-blocked tiles for the vector width, weight layout rewriting; MetaSchedule's evolutionary
search with its XGBoost model, cost_model "none"; our persistent builder; confirmation of each
subgraph's best against its default; half of each count spread over a model's subgraphs by
default time, the rest a batch at a time by expected gain) into a fresh SQLite file up to the
first trial count, the file copied, the job resumed up to the next count; with --one-pass also
"autotune one pass": the same with the whole count spread by default time; (b) stock MetaSchedule:
ms.relax_integration.tune_relax on compile_relax's fused module (no layout-free weights),
LocalBuilder(timeout_sec=BUILD_TIMEOUT), runner/cost model/database/task scheduler as shipped,
TVM_NUM_THREADS = the cores available for both tuners and for all TVM timing (TVM's runtime alone
takes half the logical CPUs of an x86 machine: one core of two here), TVM_THREAD_POOL_SPIN_COUNT=0
(spinning idle TVM workers starve PyTorch's threads in the same process),
num_trials_per_iter 64, to the first count, its work dir copied and tuned for the difference.
"tune s" = wall clock of that tuning (the later count includes the earlier). Models (--models):
the trial counts are per tunable subgraph (x the number of subgraphs). Measurement, in this
process: TVM default = tvm.compile(mod, target) (untuned); autotune = autotune.tvm.compile(mod,
target, db) (packed weights folded at build time); stock = compile_relax(JSONDatabase). Every output
is checked against PyTorch's (allclose rtol 1e-3, atol 1e-3*max|ref|). One sample = mean over a
batch of runs of at least MIN_MS ms after a warm-up; ROUNDS rounds, each takes one sample of every
contender in an order rotated every round, with a 50 ms pause between samples so that the spinning
worker threads of one runtime (TVM's pool, PyTorch's OpenMP) are idle before the next is timed. TVM's
default build is timed in the first round only when one run takes over 0.5 s (it is far behind).
torch.compile (inductor, CPU) is a contender too: "tune s" is its compile (first call). Reported:
median latency; "x torch" = median over rounds of the paired ratio torch/contender (above
1: faster than PyTorch eager); GFLOP/s from the median. Profile of autotune's best kernel: GFLOP/s
with 1 thread and with all, and the share of its fused multiply-adds that use the widest vectors.
"""

QUICK = {"workloads": ["dense-small"], "trials": [16], "rounds": 5}


# --------------------------------------------------------------------------------------
# workloads: single ops at sizes from real networks
# --------------------------------------------------------------------------------------
def _linear(rows: int, k: int, n: int) -> tuple[Any, tuple, float]:
    import torch

    torch.manual_seed(0)
    return torch.nn.Linear(k, n).eval(), (torch.randn(rows, k),), 2.0 * rows * k * n


def _bmm(b: int, m: int, k: int, n: int) -> tuple[Any, tuple, float]:
    import torch

    class BatchMatmul(torch.nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.matmul(x, y)

    torch.manual_seed(0)
    return BatchMatmul().eval(), (torch.randn(b, m, k), torch.randn(b, k, n)), 2.0 * b * m * k * n


def _gemm(n: int) -> tuple[Any, tuple, float]:
    return _bmm(1, n, n, n)[0], _square(n), 2.0 * n**3


def _square(n: int) -> tuple:
    import torch

    torch.manual_seed(0)
    return torch.randn(n, n), torch.randn(n, n)


def _conv(c_in: int, c_out: int, hw: int, k: int, stride: int, groups: int = 1) -> tuple[Any, tuple, float]:
    import torch

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, groups=groups, bias=False).eval()
    out = (hw + 2 * (k // 2) - k) // stride + 1
    return conv, (torch.randn(1, c_in, hw, hw),), 2.0 * c_out * out * out * (c_in // groups) * k * k


WORKLOADS: dict[str, tuple[str, Any]] = {
    # name: (what it is, factory -> (module, inputs, flops))
    "dense-small": ("dense 32x256 -> 512 (quick check)", lambda: _linear(32, 256, 512)),
    "dense-bert-ffn1": ("BERT-base FFN up, 128x768 -> 3072", lambda: _linear(128, 768, 3072)),
    "dense-bert-ffn2": ("BERT-base FFN down, 128x3072 -> 768", lambda: _linear(128, 3072, 768)),
    "dense-gpt2-qkv": ("GPT-2 small QKV, 128x768 -> 2304", lambda: _linear(128, 768, 2304)),
    "bmm-attention": ("attention scores, 12 x (128x64 @ 64x128)", lambda: _bmm(12, 128, 64, 128)),
    "conv-resnet-3x3": ("ResNet-18 layer1 conv, 64->64 3x3 at 56x56", lambda: _conv(64, 64, 56, 3, 1)),
    "conv-resnet-s2": ("ResNet-18 layer3 conv, 128->256 3x3 /2 at 28x28", lambda: _conv(128, 256, 28, 3, 2)),
    "dwconv-mbv2": (
        "MobileNetV2 depthwise, 144ch 3x3 at 56x56",
        lambda: _conv(144, 144, 56, 3, 1, groups=144),
    ),
    "gemm-512": ("square GEMM 512", lambda: _gemm(512)),
    "gemm-1024": ("square GEMM 1024", lambda: _gemm(1024)),
    "gemm-2048": ("square GEMM 2048", lambda: _gemm(2048)),
}
GEMMS = ("gemm-512", "gemm-1024", "gemm-2048")


def load(name: str) -> tuple[Any, tuple, float | None, str]:
    """(torch module, example inputs, flops or None, description) of a workload or zoo model."""
    if name in WORKLOADS:
        desc, factory = WORKLOADS[name]
        module, inputs, flops = factory()
        return module, inputs, flops, desc
    from autotune import zoo

    m = zoo.create(name)
    return m.module, m.example_inputs, None, m.description or name


# --------------------------------------------------------------------------------------
# workers (fresh subprocesses)
# --------------------------------------------------------------------------------------
def worker_ours(name: str, trials: list[int], db_path: str, first_pass: float = 0.5) -> dict[str, Any]:
    """Tune to each count in turn, copying the database after each: DB.<count>.sqlite
    (`first_pass`: of each count, the share spread by default time; the rest by expected gain)."""
    from autotune import backends
    from autotune.db import open_db
    from autotune.tuning.model import ModelTuner
    from autotune.tuning.plan import Settings
    from autotune.zoo.model import ZooModel

    module, inputs, _, desc = load(name)
    be = backends.get("tvm")
    db = open_db(db_path)
    job = db.start_job({"benchmark": NAME, "workload": name})
    session = be.open(be.resolve_target("llvm"), db, job)
    settings = Settings(search="evolutionary", cost_model="none", first_pass=first_pass)
    tuner = ModelTuner(be, session, db, job, settings)
    t0 = time.perf_counter()
    plan = tuner.prepare(name, name, ZooModel(name, module, inputs, desc))
    out: dict[str, Any] = {"subgraphs": len(plan.workloads), "tune_s": {}}
    for count in trials:
        tuner.tune(plan, count, deadline=time.time() + 24 * 3600)
        out["tune_s"][str(count)] = time.perf_counter() - t0
        _copy_sqlite(db_path, f"{db_path}.{count}.sqlite")
    out["profile"] = {k: round(v, 2) for k, v in vars(plan.profile).items() if isinstance(v, float)}
    tuner.close()
    session.close()
    db.finish_job(job, "done")
    db.close()
    return out


def _copy_sqlite(src: str, dst: str) -> None:
    """A consistent copy of a live SQLite file (its WAL included), by SQLite's backup API."""
    import sqlite3

    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def worker_stock(name: str, trials: list[int], work_dir: str, build_timeout: float) -> dict[str, Any]:
    """Stock MetaSchedule to each count in turn; its work dir copied to DIR.<count>."""
    from tvm.s_tir import meta_schedule as ms

    from autotune.backends.tvm import importer
    from autotune.backends.tvm.workload import resolve_target

    module, inputs, _, _ = load(name)
    target = resolve_target("llvm")
    t0 = time.perf_counter()
    fused = importer.fuse(importer.to_relax(module, inputs), target, stock=True)
    out: dict[str, Any] = {"tune_s": {}}
    done = 0
    for count in trials:
        ms.relax_integration.tune_relax(
            fused,
            None,
            target,
            work_dir,
            max_trials_global=count - done,
            builder=ms.builder.LocalBuilder(timeout_sec=build_timeout),
            num_trials_per_iter=64,
        )
        done = count
        out["tune_s"][str(count)] = time.perf_counter() - t0
        shutil.copytree(work_dir, f"{work_dir}.{count}")
    return out


def run_worker(
    kind: str, name: str, trials: list[int], path: str, build_timeout: float, first_pass: float = 0.5
) -> dict[str, Any]:
    result = Path(path + ".result.json")
    cmd = [C.PYTHON, __file__, "--worker", kind, "--workloads", name, "--path", path, "--result", str(result)]
    cmd += ["--trials", ",".join(map(str, trials)), "--stock-build-timeout", str(build_timeout)]
    cmd += ["--first-pass", str(first_pass)]
    log = Path(path + ".log")
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=C.ROOT)
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-25:])
        raise RuntimeError(f"{kind} worker for {name} failed (rc {proc.returncode}):\n{tail}")
    res = json.loads(result.read_text())
    res["process_s"] = time.perf_counter() - t0
    return res


# --------------------------------------------------------------------------------------
# measurement (this process)
# --------------------------------------------------------------------------------------
def _call_timer(call: Any, min_ms: float) -> Any:
    """A timer of a zero-argument call: each sample is one warm-up call, then the mean of
    back-to-back calls over at least `min_ms`."""

    def sample() -> float:
        call()
        n, t0 = 0, time.perf_counter()
        while True:
            call()
            n += 1
            dt = time.perf_counter() - t0
            if dt * 1e3 >= min_ms:
                return dt / n

    return sample


def _torch_timer(module: Any, inputs: tuple, min_ms: float) -> Any:
    """PyTorch's module on its inputs, each sample under one `torch.no_grad`."""
    import torch

    timer = _call_timer(lambda: module(*inputs), min_ms)

    def sample() -> float:
        with torch.no_grad():
            return timer()

    return sample


def best_kernel_profile(db_path: str, target: Any, flops: float | None) -> dict[str, Any]:
    """The heaviest subgraph's best kernel: GFLOP/s on 1 thread and all, widest-vector FMA share."""
    import re

    import tvm

    from autotune.backends.tvm import measure
    from autotune.db import open_db

    with open_db(db_path, readonly=True) as db:
        model = db.model(db.models()[0]["name"])
        tid = db.latest_target(model["id"])
        best, heaviest = None, -1.0
        for w, weight in model["workloads"]:
            b = db.best(w["id"], tid)
            default = db.default_latency(w["id"], tid) or 0.0
            if b is not None and default * weight > heaviest:
                best, heaviest, row = b, default * weight, db.workload_by_id(w["id"])
    if best is None:
        return {"note": "no subgraph has a tuned best"}
    mod = measure.apply_trace(tvm.ir.load_json(row["ir"]), best.config["trace"])
    rt = measure.build_func(mod, target)
    args = measure.random_args(mod)
    config = tvm.get_global_func("runtime.config_threadpool")
    cores = int(target.export().get("num-cores", 1))
    secs = {}
    for threads in (1, cores):
        config(0, threads)
        secs[threads] = C.median([measure.time_func(rt, args)() for _ in range(5)])
    config(0, cores)
    asm = _asm(tvm.compile(measure_mod(mod), target=target))
    fmas = re.findall(r"vfmadd\w*\s+[^\n]*", asm)
    wide = sum("zmm" in f for f in fmas) if any("zmm" in f for f in fmas) else sum("ymm" in f for f in fmas)
    out = {"kernel": row["name"], "secs_1_thread": secs[1], f"secs_{cores}_threads": secs[cores]}
    out["thread_scaling"] = secs[1] / secs[cores]
    out["fma_widest_share"] = wide / len(fmas) if fmas else None
    if flops and len(model["workloads"]) <= 2:
        out["gflops_1_thread"] = flops / secs[1] / 1e9
        out[f"gflops_{cores}_threads"] = flops / secs[cores] / 1e9
    return out


def _asm(executable: Any) -> str:
    """The assembly of a built TIR module (its host module, or the first import that has it)."""
    mod = getattr(executable, "mod", executable)
    for m in [mod, *getattr(mod, "imports", [])]:
        try:
            return str(m.inspect_source("asm"))
        except Exception:  # a module kind without assembly
            continue
    return ""


def measure_mod(mod: Any) -> Any:
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    return RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)


def compare(
    name: str, dbs: dict[str, str], stock: dict[str, str], rounds: int, min_ms: float, with_compile: bool
) -> dict:
    import numpy as np
    import torch
    import tvm
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.relax_integration import compile_relax

    import autotune.tvm
    from autotune.backends.tvm import importer
    from autotune.backends.tvm.workload import resolve_target

    target = resolve_target("llvm")
    cores = int(target.export().get("num-cores", 1))
    torch.set_num_threads(cores)
    module, inputs, flops, desc = load(name)
    mod = importer.to_relax(module, inputs)
    args = [x.detach().numpy() for x in inputs]
    with torch.no_grad():
        ref = module(*inputs).detach().numpy()
    builds = {"TVM default": tvm.compile(mod, target)}
    for label, path in dbs.items():
        builds[label] = autotune.tvm.compile(mod, target, db=path)
    for label, path in stock.items():
        builds[label] = compile_relax(
            ms.database.JSONDatabase(work_dir=path, allow_missing=False), mod, target, None
        )
    from autotune.backends.tvm import measure

    timers, wrong = {"PyTorch eager": _torch_timer(module, inputs, min_ms)}, {}
    setup: dict[str, float] = {}
    if with_compile:
        t0 = time.perf_counter()
        try:
            compiled = torch.compile(module, backend="inductor")
            with torch.no_grad():
                wrong["torch.compile"] = _mismatch(compiled(*inputs).detach().numpy(), ref)
            timers["torch.compile"] = _torch_timer(compiled, inputs, min_ms)
            setup["torch.compile"] = time.perf_counter() - t0
        except Exception as exc:  # inductor cannot compile it here: say so, time the rest
            wrong["torch.compile"] = f"unavailable: {type(exc).__name__}"
    if name in GEMMS:
        timers["numpy"] = _call_timer(lambda: np.matmul(args[0], args[1]), min_ms)
        wrong["numpy"] = _mismatch(np.matmul(args[0], args[1]), ref)
    for label, ex in builds.items():
        wrong[label] = _mismatch(importer.run(ex, args)[0], ref)
        timers[label] = measure.time_vm(ex, args, min_ms=min_ms)
    samples: dict[str, list[float]] = {k: [] for k in timers}
    order = list(timers)
    for r in range(rounds):
        for label in C.rotated(order, r):
            if label == "TVM default" and samples[label] and samples[label][0] > 0.5:
                continue  # far behind: one sample says so
            time.sleep(0.05)
            samples[label].append(timers[label]())
    torch_s = samples["PyTorch eager"]
    rows = {}
    for label, xs in samples.items():
        paired = (
            C.paired_ratio(torch_s[: len(xs)], xs)
            if label != "TVM default" or len(xs) > 1
            else torch_s[0] / xs[0]
        )
        rows[label] = {
            "median_s": C.median(xs),
            "x_torch": paired,
            "gflops": flops / C.median(xs) / 1e9 if flops else None,
            "samples": len(xs),
            "wrong": wrong.get(label, ""),
        }
    return {"description": desc, "flops": flops, "rows": rows, "setup_s": setup}


def _mismatch(got: Any, want: Any) -> str:
    from autotune import compare

    return compare.mismatch([got], [want])


# --------------------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default=",".join(w for w in WORKLOADS if w != "dense-small"))
    ap.add_argument("--models", default="", help="zoo models, end to end (trials per subgraph)")
    ap.add_argument("--trials", default="64,256", help="trial counts (per workload; per subgraph for models)")
    ap.add_argument("--stock-trials", help="stock MetaSchedule's trial counts (default: --trials)")
    ap.add_argument("--no-stock", action="store_true", help="skip stock MetaSchedule")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--min-ms", type=float, default=50.0)
    ap.add_argument("--stock-build-timeout", type=float, default=120.0)
    ap.add_argument(
        "--one-pass",
        action="store_true",
        help="also autotune without the gain pass (whole budget by default time), same trials",
    )
    ap.add_argument("--first-pass", type=float, default=0.5, help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker", choices=["ours", "stock"], help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    trials = [int(t) for t in args.trials.split(",")]
    stock_trials = [int(t) for t in args.stock_trials.split(",")] if args.stock_trials else trials
    if args.worker:
        fn = worker_ours if args.worker == "ours" else worker_stock
        extra = (args.first_pass,) if args.worker == "ours" else (args.stock_build_timeout,)
        res = fn(args.workloads, trials, args.path, *extra)
        Path(args.result).write_text(json.dumps(res, default=str))
        return 0
    C.tvm_on_all_cores()  # stock MetaSchedule's workers too (see METHOD)
    names = [w for w in args.workloads.split(",") if w]
    models = [m for m in args.models.split(",") if m]
    if args.quick:
        names, models, trials, args.rounds = QUICK["workloads"], [], QUICK["trials"], QUICK["rounds"]
    if args.models and not args.workloads.strip():
        names = []
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown:
        print(f"vs_pytorch: unknown workloads {unknown} (known: {', '.join(WORKLOADS)})", file=sys.stderr)
        return 2
    results: dict[str, Any] = {}
    print(C.wrap(METHOD), "", sep="\n", flush=True)
    # Model runs (hours each) keep a results file of their own, one entry per model.
    suffix = "-quick" if args.quick else ("-models" if models and not names else "")
    out = None
    work = Path(tempfile.mkdtemp(prefix="vs-pytorch-"))
    for name in [*names, *models]:
        counts, stock_counts = trials, stock_trials
        if name in models:  # per subgraph: scale by the model's subgraphs
            n = _tunable_subgraphs(name)
            counts, stock_counts = [t * n for t in trials], [t * n for t in stock_trials]
        ours = run_worker("ours", name, counts, str(work / f"{name}.sqlite"), args.stock_build_timeout)
        dbs = {f"autotune {c}": str(work / f"{name}.sqlite.{c}.sqlite") for c in counts}
        one_pass: dict[str, Any] = {}
        if args.one_pass:
            path = str(work / f"{name}-one-pass.sqlite")
            one_pass = run_worker("ours", name, counts, path, args.stock_build_timeout, first_pass=1.0)
            dbs.update({f"autotune one pass {c}": f"{path}.{c}.sqlite" for c in counts})
        stock_runs: dict[str, Any] = {}
        stock: dict[str, str] = {}
        if not args.no_stock:
            stock_runs = run_worker(
                "stock", name, stock_counts, str(work / f"{name}.ms"), args.stock_build_timeout
            )
            stock = {f"stock MS {c}": str(work / f"{name}.ms.{c}") for c in stock_counts}
        res = compare(name, dbs, stock, args.rounds, args.min_ms, not args.no_compile)
        from autotune.backends.tvm.workload import resolve_target

        res["profile"] = best_kernel_profile(
            dbs[f"autotune {counts[-1]}"], resolve_target("llvm"), res["flops"]
        )
        tune_s = {f"autotune {c}": ours["tune_s"][str(c)] for c in counts}
        tune_s.update(
            {f"stock MS {c}": stock_runs["tune_s"][str(c)] for c in stock_counts} if stock_runs else {}
        )
        tune_s.update({f"autotune one pass {c}": s for c, s in one_pass.get("tune_s", {}).items()})
        res["tune_s"], res["ours_worker"], res["stock_worker"] = tune_s, ours, stock_runs
        if one_pass:
            res["one_pass_worker"] = one_pass
        res["date"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        # Each entry says what made it: a results file merges entries of several runs.
        res["command"] = " ".join(["benchmarks/vs_pytorch.py", *argv])
        res["autotune_git"] = C.versions().get("autotune_git")
        results[name] = res
        print(_render(name, res), flush=True)
        out = _write(NAME + suffix, results, argv)  # after each one: a killed run keeps it
    print(f"results: {out}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _write(name: str, results: dict[str, Any], argv: list[str]) -> Path:
    """Write the results file NAME. Unless quick, a run replaces the entries of the
    workloads or models it ran and keeps the others (each has its date), so a long
    benchmark can be measured a few workloads at a time."""
    if not name.endswith("-quick"):
        results = {**{k: v for k, v in _previous(name).items() if k not in results}, **results}
    text = [C.wrap(METHOD), ""] + [
        f"({r.get('date', 'an earlier run')}{', ' + r['command'] if r.get('command') else ''})\n"
        + _render(k, r)
        for k, r in results.items()
    ]
    return C.write_result(name, METHOD, results, "\n".join(text), argv, script=f"benchmarks/{NAME}.py")


def _previous(name: str) -> dict[str, Any]:
    """The results of an earlier run of this benchmark (none when there is no readable one)."""
    try:
        return dict(json.loads((C.RESULTS / f"{name}.json").read_text())["results"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _tunable_subgraphs(name: str) -> int:
    """Subgraphs of a zoo model that MetaSchedule's space does not fix (the ones with a search)."""
    from tvm.s_tir import meta_schedule as ms

    from autotune.backends.tvm import importer
    from autotune.backends.tvm.workload import resolve_target

    module, inputs, _, _ = load(name)
    target = resolve_target("llvm")
    tasks = ms.relax_integration.extract_tasks(
        importer.fuse(importer.to_relax(module, inputs), target), target
    )
    return max(1, len(tasks))


def _render(name: str, res: dict[str, Any]) -> str:
    rows = []
    for label, r in res["rows"].items():
        rows.append(
            [
                label,
                r["median_s"] * 1e3,
                f"{r['x_torch']:.2f}x",
                r["gflops"],
                res["tune_s"].get(label, res.get("setup_s", {}).get(label)),
                r["samples"],
                r["wrong"] or "ok",
            ]
        )
    head = f"{name}: {res['description']}"
    prof = res.get("profile", {})
    note = "profile of autotune's best kernel: " + ", ".join(
        f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in prof.items()
    )
    return "\n".join(
        [
            head,
            C.table(["contender", "ms", "x torch", "GFLOP/s", "tune s", "samples", "output"], rows),
            note,
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
