"""Confirmation: only a candidate that beats the default side by side becomes the best.

The fastest few candidates of a workload (by their tuning runs) are compared with the
default one at a time, interleaved in one process with their outputs checked
(`Session.compare`); each comparison is recorded (source 'confirm'), and the first that
wins by `compare.WIN_MARGIN` is the workload's best (`TuningDatabase.best` reads the latest
confirmation). A failed or wrong candidate is recorded as such and never becomes the best.
A winning config of decisions is first reduced to the decisions that matter (`simplify`) and
confirmed once more; then each of its decisions is removed in turn and timed against it
(`ablate`), which is what `autotune best` shows as that decision's contribution.

Example::

    speedup = confirm(ctx, state)     # None: the default stays the best
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autotune import compare

if TYPE_CHECKING:
    from autotune.tuning.plan import Context, WorkloadState

#: Simplification drops a decision unless removing it slows the config by more than this
#: (timings here vary by several percent round to round; the result is confirmed after).
SIMPLIFY_TOLERANCE = 0.03
#: Candidates compared with the default, fastest first, until one wins.
CANDIDATES = 3


def confirm(ctx: Context, s: WorkloadState, candidates: int = CANDIDATES) -> float | None:
    """Compare the fastest candidates with the default until one wins; its paired speedup,
    or None when the default stays the best."""
    rounds = ctx.backend.confirm_rounds
    for rec in [
        b for b in ctx.db.fastest(s.workload_id, ctx.target_id, candidates + 1) if b.kind != "default"
    ]:
        c = _compare(ctx, s, {}, rec.config, rounds)
        if c is None:
            continue
        config = rec.config
        if compare.wins(c.default, c.tuned) and s.decisions:
            simpler = simplify(ctx, s, rec.config)
            if simpler != rec.config:
                again = _compare(ctx, s, {}, simpler, rounds)
                if again is not None:
                    config, c = simpler, again
        ctx.record.pair(s.workload_id, config, c.default, c.tuned)
        if compare.wins(c.default, c.tuned):
            if s.decisions and len(config) > 1:
                ablate(ctx, s, config)
            return compare.paired_speedup(c.default, c.tuned)
    return None


def ablate(ctx: Context, s: WorkloadState, config: dict[str, Any], rounds: int = 10) -> None:
    """Measure what each decision of a winning config contributes: the config against itself
    without that decision, interleaved, outputs checked; recorded as ablations (read by
    `TuningDatabase.contributions`, shown by `autotune best`)."""
    for name in sorted(config):
        without = {k: v for k, v in config.items() if k != name}
        c = _compare(ctx, s, config, without, rounds)
        if c is not None:
            ctx.record.ablation(s.workload_id, config, without, c.default, c.tuned)


def simplify(ctx: Context, s: WorkloadState, config: dict[str, Any], rounds: int = 10) -> dict[str, Any]:
    """Drop, one at a time, each decision whose removal costs under SIMPLIFY_TOLERANCE (timed
    interleaved against the current config, outputs checked), so a best names what matters."""
    current = dict(config)
    for name in sorted(config, key=lambda n: (not n.startswith("layout:"), n)):
        trial = {k: v for k, v in current.items() if k != name}
        if not trial:
            continue
        out = ctx.session.measure(s.workload, trial)
        ctx.record(s.workload_id, trial, out.status, out.samples, out.error, source="simplify")
        if out.status != "ok":
            continue
        c = _compare(ctx, s, current, trial, rounds)
        if c is not None and compare.no_slower(c.default, c.tuned, SIMPLIFY_TOLERANCE):
            current = trial
    return current


def _compare(ctx: Context, s: WorkloadState, base: Any, config: Any, rounds: int) -> Any:
    """An interleaved comparison, or None after recording why the candidate failed it."""
    c = ctx.session.compare(s.workload, base, config, rounds)
    if c.status != "ok":
        ctx.record(s.workload_id, config, c.status, error=f"confirm: {c.error}", source="confirm")
        return None
    return c
