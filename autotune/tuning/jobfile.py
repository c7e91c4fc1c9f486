"""The nightly job file: which models to tune, for which target, within which budgets.

Every key means the same for every backend and is validated, for every backend the job
uses, before the job starts (a bad value is one line naming the key):

- ``target``: "llvm" (this CPU, for every backend), a backend's own name for a device
  (XLA: "cpu", "gpu") or a JSON dict of TVM target attributes.
- ``search``: the search strategy; "auto" (default) is each backend's default, any other
  name must be one that every backend of the job can run (``Backend.searches``).
- ``cost_model``: our cost model that ranks candidates before they are measured:
  "pretrained" (the checkpoint shipped for the backend), a checkpoint path, or "none": no
  model of ours, each search measures what its strategy proposes, as the strategy's own
  surrogate ranks it (MetaSchedule's XGBoost; TPE's Parzen estimators).
- ``rank_pool``: with a cost model, how many proposals it ranks for each one measured
  (default: each backend's measured default, ``Backend.rank_pool``).
- ``baselines``: what each tuned model is timed against besides the compiler's default,
  interleaved with the tuned build (``Backend.baselines``; TVM: "torch" = PyTorch eager,
  "torch.compile"); default: all of them, ``[]``: none. Any name must be one that a
  backend of the job offers; a backend times those of the list it offers.
- ``first_pass``: the share of each model's trials spread over its subgraphs by their
  untuned time (default 0.5); the rest goes where the measured best is furthest above
  its roofline (1.0: all by untuned time).
- ``graph_trials``: graph-level configs of each model the joint search measures (default
  0: none). Where a backend has graph-level decisions (TVM: conv layouts, ops kept out of
  fusion, the GELU form), configs are ranked by the composition of their subgraphs before
  any is built, each measured config's new subgraphs are tuned with the trials of the
  model's own subgraphs they replace, and the config that beats the model's own graph end
  to end is kept.
- ``levels``: which levels of the passes' decisions are searched, ``["graph",
  "subgraph"]`` (the default: both, jointly) or one of them. XLA: graph = compiler options,
  HLO passes, argument and result layouts; subgraph = layouts of tensors inside the
  program and fusion cuts. TVM: graph = the joint search's configs (``graph_trials`` of
  them; with the graph level alone, the model's trials); subgraph = MetaSchedule's
  schedules of the fused subgraphs, which keep TVM's default ones without it.
- ``report``: a folder; at its end, the job writes its report there (`autotune report`:
  report.html, self-contained, and report.md with PNG plots), replacing the last one. A
  relative path is relative to the job file.
- ``ray``: a Ray cluster ("auto", "local", "HOST:PORT"): the job's models run as Ray tasks
  there, each tuning into a SQLite shard of its own that the driver merges
  (autotune/tuning/fanout.py; the same as ``autotune tune --ray``).
- ``device_key``: measure on remote devices of that key instead of here, through the engine
  of each model's backend (``Backend.remote_engine``):
  - TVM, through TVM's RPC tracker at ``tracker`` ("HOST:PORT", `python -m
    tvm.exec.rpc_tracker`), on the devices that joined it with that key (`python -m
    tvm.exec.rpc_server --tracker HOST:PORT --key KEY`). Candidates are built here for the
    device's target (its CPU, triple and thread count, asked from its TVM runtime;
    ``target`` may set any of them itself) and everything timed or checked runs on the
    device.
  - XLA, through the Ray cluster of ``ray``, on its nodes that offer the Ray resource of
    that name (`ray start --address HEAD --resources '{"KEY": 1}'`, one unit per device):
    each model's isolated worker runs there, where XLA compiles for the device it runs on.
  Records are the device's own target's. A model of a backend with no engine, or whose
  engine the job does not set (``tracker``, ``ray``), is an error.
- ``trials``, ``time_budget_s``, ``trials_per_iter``, ``database``, ``backend``.

Example ``jobs.toml``::

    [job]
    target = "llvm"            # this CPU; or a JSON dict of TVM target attributes
    trials = 64                # default trials per model
    time_budget_s = 540        # wall clock for the whole job
    baselines = ["torch"]      # PyTorch eager only (default: also "torch.compile"; [] none)
    # database = "tuning.sqlite"   # default: the embedded default database
    # tracker = "10.0.0.5:9190"    # TVM: measure on the tracker's devices of this key instead
    # device_key = "rasp4"
    # ray = "10.0.0.5:6379"        # the models as Ray tasks (XLA: measured on nodes offering device_key)

    [[models]]
    name = "mlp"
    trials = 32

    [[models]]
    name = "resnet-mine"
    source = "mypkg.models:build"   # a function returning (torch module, example inputs)
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autotune.errors import UserError
from autotune.passes.base import LEVELS

_JOB_KEYS = {
    "target",
    "trials",
    "time_budget_s",
    "database",
    "backend",
    "search",
    "trials_per_iter",
    "cost_model",
    "rank_pool",
    "baselines",
    "first_pass",
    "graph_trials",
    "levels",
    "report",
    "tracker",
    "device_key",
    "ray",
}
_MODEL_KEYS = {"name", "source", "trials", "backend"}
#: The backend of a model that names none (the job's `backend`, else this).
DEFAULT_BACKEND = "tvm"


@dataclass
class ModelEntry:
    """One model of a job: a zoo name or a user `module:function` source."""

    name: str
    source: str
    trials: int
    backend: str = DEFAULT_BACKEND


@dataclass
class JobSpec:
    """A validated tuning job."""

    models: list[ModelEntry]
    target: Any = "llvm"
    time_budget_s: float = 3600.0
    database: str | None = None
    search: str = "auto"
    trials_per_iter: int = 16
    cost_model: str = "pretrained"  # 'pretrained', 'none' or a checkpoint path
    rank_pool: int | None = None  # None: each backend's default
    baselines: list[str] | None = None  # None: every baseline of each backend
    first_pass: float = 0.5  # of each model's trials, spread by untuned time (the rest: by expected gain)
    graph_trials: int = 0  # graph-level configs per model (the joint search); 0: none
    levels: list[str] = field(default_factory=lambda: list(LEVELS))  # of decisions searched
    report: str | None = None  # a folder the job writes its report into at its end
    tracker: str | None = None  # "HOST:PORT" of an RPC tracker: measure on its devices of `device_key`
    device_key: str | None = None
    ray: str | None = None  # a Ray cluster: the models as Ray tasks (autotune/tuning/fanout.py)
    path: str | None = None

    def backends(self) -> list[str]:
        """The backends of the job's models, in the order they first appear."""
        return list(dict.fromkeys(m.backend for m in self.models))

    def remote(self, backend: str) -> Any:
        """Where a backend's models are measured when not here: `backends.base.Remote` (a TVM
        RPC tracker's devices) or `backends.base.RayDevices` (a Ray cluster's nodes), by the
        backend's `remote_engine`; None when they are measured here. Validated (`check_remote`)."""
        from autotune import backends
        from autotune.backends.base import RayDevices, Remote

        if self.device_key is None:
            return None
        engine = backends.get(backend).remote_engine
        if engine == "tracker" and self.tracker is not None:
            host, port = parse_tracker(self.tracker, "tracker")
            return Remote(host, port, self.device_key)
        if engine == "ray" and self.ray is not None:
            return RayDevices(self.ray, self.device_key)
        return None

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UserError(f"{where}: expected a positive integer, got {value!r}")
    return value


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UserError(f"{where}: expected a whole number, 0 or more, got {value!r}")
    return value


def _positive_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise UserError(f"{where}: expected a positive number, got {value!r}")
    return float(value)


def _share(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise UserError(f"{where}: expected a number above 0 and at most 1, got {value!r}")
    return float(value)


def parse_levels(value: Any, where: str) -> list[str]:
    """A non-empty list of decision levels ("graph", "subgraph"), in that order."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, list) or not value or any(v not in LEVELS for v in value):
        raise UserError(f"{where}: expected a list of levels from {list(LEVELS)}, got {value!r}")
    return [v for v in LEVELS if v in value]


def parse_tracker(value: Any, where: str) -> tuple[str, int]:
    """A tracker address "HOST:PORT" as (host, port)."""
    host, sep, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    if not sep or not host.strip() or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f'{where}: expected "HOST:PORT" with a port number, got {value!r}')
    return host.strip().strip("[]"), int(port)


def check_remote(
    spec: JobSpec, where: str, names: tuple[str, str, str] = ("tracker", "device_key", "ray")
) -> None:
    """`device_key` well formed, with the engine every model's backend measures remotely
    through (`tracker` for TVM, `ray` for XLA), and a `tracker` only with a key; UserError
    naming the key (`where` + its name in `names`) otherwise."""
    from autotune import backends

    tracker, key, ray = (f"{where}{n}" for n in names)
    if spec.ray is not None and (not isinstance(spec.ray, str) or not spec.ray.strip()):
        raise UserError(f'{ray}: expected "auto", "local" or a cluster address, got {spec.ray!r}')
    if spec.tracker is not None:
        parse_tracker(spec.tracker, tracker)
        if spec.device_key is None:
            raise UserError(f"{tracker}: needs {names[1]} too (the key the devices joined the tracker with)")
    if spec.device_key is None:
        return
    value = spec.device_key
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise UserError(f"{key}: expected a key with no spaces, got {value!r}")
    if spec.tracker is None and spec.ray is None:
        raise UserError(f"{key}: needs {names[0]} (TVM: HOST:PORT of the RPC tracker) or {names[2]} (XLA)")
    needs = {"tracker": (spec.tracker, names[0]), "ray": (spec.ray, names[2])}
    for m in spec.models:
        engine = backends.get(m.backend).remote_engine
        if engine is None:
            can = [n for n in backends.names() if backends.get(n).remote_engine]
            raise UserError(
                f"{key}: model {m.name!r} is of backend {m.backend}, which cannot measure on remote "
                f"devices (those that can: {', '.join(can) or 'none'})"
            )
        if needs[engine][0] is None:
            how = "an RPC tracker" if engine == "tracker" else "a Ray cluster"
            raise UserError(
                f"{key}: model {m.name!r} ({m.backend}) measures on remote devices through {how}: "
                f"needs {needs[engine][1]} too"
            )


def _backend(value: Any, where: str) -> str:
    from autotune import backends

    if not isinstance(value, str) or value not in backends.names():
        raise UserError(f"{where}: unknown backend {value!r}; known: {', '.join(backends.names())}")
    return value


def _search(value: Any, where: str, used: list[str]) -> str:
    """'auto' or a strategy every backend of the job can run."""
    from autotune import backends

    if not isinstance(value, str) or not value:
        raise UserError(f"{where}: [job] search must be a strategy name, got {value!r}")
    if value == "auto":
        return value
    known = sorted({s for name in backends.names() for s in backends.get(name).searches} | {"auto"})
    if value not in known:
        raise UserError(f"{where}: [job] search: unknown strategy {value!r}; known: {', '.join(known)}")
    for name in used:
        if value not in backends.get(name).searches:
            can = ", ".join(backends.get(name).searches)
            raise UserError(f"{where}: [job] search {value!r} cannot tune {name} models (they take: {can})")
    return value


def _cost_model(value: Any, where: str, base_dir: Path | None, used: list[str]) -> str:
    if not isinstance(value, str) or not value:
        raise UserError(f"{where}: [job] cost_model must be 'pretrained', 'none' or a checkpoint path")
    if value == "none":
        return value
    if value == "pretrained":
        from autotune.costmodel.ranker import pretrained_path

        for name in used:
            if not pretrained_path(name).is_file():
                raise UserError(f"{where}: [job] cost_model 'pretrained': no checkpoint ships for {name}")
        return value
    path = Path(value).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise UserError(f"{where}: [job] cost_model: no such checkpoint {str(path)!r}")
    return str(path)


def _baselines(value: Any, where: str, used: list[str]) -> list[str] | None:
    """None (every baseline) or names that some backend of the job offers."""
    from autotune import backends

    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UserError(f'{where}: [job] baselines must be a list of names, e.g. ["torch"], or []')
    offered = sorted({n for name in used for n in backends.get(name).baselines})
    for v in value:
        if v not in offered:
            raise UserError(
                f"{where}: [job] baselines: unknown baseline {v!r} for this job's backends; "
                f"known: {', '.join(offered) or 'none'}"
            )
    return list(dict.fromkeys(value))


def _path(value: Any, where: str, base_dir: Path | None) -> str | None:
    """A path string of the job file (relative: to the job file's folder), or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise UserError(f"{where} must be a path string")
    if base_dir is not None and not Path(value).expanduser().is_absolute():
        return str(base_dir / value)
    return value


def _known_keys(table: dict[str, Any], known: set[str], what: str) -> None:
    bad = set(table) - known
    if bad:
        raise UserError(f"{what} key(s) {', '.join(sorted(bad))}; known: {', '.join(sorted(known))}")


def parse_job(data: dict[str, Any], where: str = "job file", base_dir: Path | None = None) -> JobSpec:
    """Validate the parsed TOML of a job file."""
    unknown = set(data) - {"job", "models"}
    if unknown:
        raise UserError(
            f"{where}: unknown section(s) {', '.join(sorted(unknown))} (expected [job], [[models]])"
        )
    job = data.get("job", {})
    if not isinstance(job, dict):
        raise UserError(f"{where}: [job] must be a table")
    _known_keys(job, _JOB_KEYS, f"{where}: unknown [job]")
    default_trials = _positive_int(job.get("trials", 64), f"{where}: [job] trials")
    backend = _backend(job.get("backend", DEFAULT_BACKEND), f"{where}: [job] backend")
    target = job.get("target", "llvm")
    if not isinstance(target, (str, dict)):
        raise UserError(f"{where}: [job] target must be a string or a table, got {target!r}")
    database = _path(job.get("database"), f"{where}: [job] database", base_dir)
    report = _path(job.get("report"), f"{where}: [job] report", base_dir)
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise UserError(f"{where}: no [[models]] listed")
    entries = []
    for i, m in enumerate(models):
        w = f"{where}: models[{i}]"
        if not isinstance(m, dict):
            raise UserError(f"{w}: must be a table")
        _known_keys(m, _MODEL_KEYS, f"{w}: unknown")
        name = m.get("name")
        if not isinstance(name, str) or not name:
            raise UserError(f"{w}: needs a name")
        source = m.get("source", name)
        if not isinstance(source, str) or not source:
            raise UserError(f"{w}: source must be a string")
        trials = _positive_int(m.get("trials", default_trials), f"{w} trials")
        entries.append(ModelEntry(name, source, trials, _backend(m.get("backend", backend), f"{w} backend")))
    names = [(e.name, e.backend) for e in entries]
    if len(set(names)) != len(names):
        raise UserError(f"{where}: a model is listed twice for one backend")
    used = list(dict.fromkeys(e.backend for e in entries))
    rank_pool = job.get("rank_pool")
    spec = JobSpec(
        models=entries,
        target=target,
        time_budget_s=_positive_number(job.get("time_budget_s", 3600), f"{where}: [job] time_budget_s"),
        database=database,
        search=_search(job.get("search", "auto"), where, used),
        trials_per_iter=_positive_int(job.get("trials_per_iter", 16), f"{where}: [job] trials_per_iter"),
        cost_model=_cost_model(job.get("cost_model", "pretrained"), where, base_dir, used),
        rank_pool=None if rank_pool is None else _positive_int(rank_pool, f"{where}: [job] rank_pool"),
        baselines=_baselines(job.get("baselines"), where, used),
        first_pass=_share(job.get("first_pass", 0.5), f"{where}: [job] first_pass"),
        graph_trials=_count(job.get("graph_trials", 0), f"{where}: [job] graph_trials"),
        levels=parse_levels(job.get("levels", list(LEVELS)), f"{where}: [job] levels"),
        report=report,
        tracker=job.get("tracker"),
        device_key=job.get("device_key"),
        ray=job.get("ray"),
    )
    check_remote(spec, f"{where}: [job] ")
    return spec


def load_job(path: str | Path) -> JobSpec:
    """Read and validate a job file; every mistake is one UserError line."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"{path}: no such job file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read job file ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: malformed TOML ({exc})") from None
    spec = parse_job(data, str(path), base_dir=path.resolve().parent)
    spec.path = str(path)
    return spec
