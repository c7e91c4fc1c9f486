"""Verification: re-measure here what another host measured, before it can be applied here.

Measurements that came from elsewhere (a merge, an imported MetaSchedule log) never decide
a best (`TuningDatabase.best` counts only this host's confirmations). `verify` rebuilds
each workload that has such candidates (the backend session's `rebuild`) and confirms its
fastest candidates here: outputs checked, timed interleaved against the default. A winner
becomes the workload's best on this host; a loser is recorded as such.

Example::

    for line in verify(db, ["tvm"], "llvm", time_budget_s=600):
        print(line.workload, line.outcome)
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from autotune import backends
from autotune.backends.base import Backend
from autotune.db.base import TuningDatabase
from autotune.db.recorder import Recorder
from autotune.tuning.confirm import confirm
from autotune.tuning.plan import Context, Settings, WorkloadState


@dataclass
class Verified:
    backend: str
    workload: str
    outcome: str  # 'verified' | 'default kept' | 'skipped'
    detail: str = ""


def verify(
    db: TuningDatabase, names: Sequence[str | Backend], target: object, time_budget_s: float
) -> Iterator[Verified]:
    """Confirm here the unverified workloads of each backend (a name or a Backend) on `target`,
    within the budget."""
    deadline = time.time() + time_budget_s
    for item in names:
        be = backends.get(item) if isinstance(item, str) else item
        name = be.name
        resolved = be.resolve_target(target)
        tid = db.find_target(be.describe(resolved))
        pending = [] if tid is None else db.unverified(tid)
        if not pending:
            continue
        with be.open(resolved, db, None) as session:
            ctx = Context(
                be, session, Recorder(db, tid, None, be.config_kind), Settings(cost_model="none"), None
            )
            for wid in pending:
                row = db.workload_by_id(wid)
                if time.time() >= deadline:
                    yield Verified(name, row["name"], "skipped", "the time budget ran out")
                    continue
                w = session.rebuild(row)
                if isinstance(w, str):
                    yield Verified(name, row["name"], "skipped", w)
                    continue
                speedup = confirm(ctx, WorkloadState(w, wid, session.decisions(w)))
                if speedup is None:
                    yield Verified(name, row["name"], "default kept", "no candidate beat the default here")
                else:
                    yield Verified(name, row["name"], "verified", f"{speedup:.2f}x over the default here")
