"""Record every config of a small XLA decision space once, on this machine, for the replay tests.

    .venv/bin/python -m tests.replay.record            # rewrites tests/replay/xla-mlp.json

The bundled JAX mlp, four of its decisions (a parameter layout, XNNPACK on/off, HLO fusion
off, vector width: 3 x 3 x 2 x 4 = 72 configs), each compiled, checked and timed by the real
XLA backend in its isolated worker, exactly as a tuning job measures candidates. The
replay tests then run search strategies, the composer and cost models against these
outcomes without compiling anything.
"""

from __future__ import annotations

import datetime
import itertools
import json
import platform
from pathlib import Path

from autotune import backends
from autotune.db import open_db
from autotune.passes import normalize

OUT = Path(__file__).resolve().parent / "xla-mlp.json"
DECISIONS = (
    "layout:in:1",
    "opt:xla_cpu_use_xnnpack",
    "disable:fusion",
    "opt:xla_cpu_prefer_vector_width",
)


def main() -> None:
    import tempfile

    be = backends.get("xla")
    with tempfile.TemporaryDirectory() as tmp, open_db(Path(tmp) / "r.sqlite") as db:
        target = be.resolve_target("cpu")
        with be.open(target, db, None) as session:
            model = session.load("mlp", None)
            (w,) = session.workloads(model)
            by_name = {d.name: d for d in session.decisions(w)}
            chosen = [by_name[n] for n in DECISIONS]
            outcomes = []
            for values in itertools.product(*[d.choices for d in chosen]):
                config = normalize(dict(zip(DECISIONS, values)), chosen)
                out = session.measure(w, config)
                outcomes.append(
                    {"config": config, "status": out.status, "samples": out.samples, "error": out.error}
                )
                print(
                    out.status, config, f"{min(out.samples) * 1e6:.1f} us" if out.samples else out.error[:80]
                )
        info = be.describe(target).as_dict()
    data = {
        "about": "every config of four XLA decisions of the bundled JAX mlp, measured once by "
        "the XLA backend (tests/replay/record.py)",
        "recorded": {"date": datetime.date.today().isoformat(), "host": platform.node(), "target": info},
        "workload": {"fingerprint": w.fingerprint, "name": w.name, "ir": w.ir, "meta": w.meta},
        "decisions": [
            {
                "name": d.name,
                "level": d.level,
                "kind": d.kind,
                "choices": list(d.choices),
                "default": d.default,
            }
            for d in chosen
        ],
        "outcomes": outcomes,
    }
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT} ({len(outcomes)} configs)")


if __name__ == "__main__":
    main()
