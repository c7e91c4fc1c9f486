"""Optuna's TPE sampler over a flat decision space (model-based, good for 10-30 choices).

The first `startup` proposals are sparse random configs (each decision moved off its
default with probability ~2/n), so the start explores few changes at a time: fewer
compiler aborts and results that can be explained; TPE models everything told after.
Failed candidates are told as a penalty (twice the worst latency seen) so that TPE learns
to avoid the region instead of proposing it again.
"""

from __future__ import annotations

from typing import Any

from autotune.search.graph import GraphSearch, register


@register("tpe")
class TPESearch(GraphSearch):
    """Tree-structured Parzen estimator (Optuna), seeded for reproducibility."""

    def __init__(self, *args: Any, startup: int = 8, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=self.rng.randrange(2**31), n_startup_trials=startup)
        self.study = optuna.create_study(direction="minimize", sampler=sampler)
        self.dists = {
            d.name: optuna.distributions.CategoricalDistribution(list(d.choices)) for d in self.decisions
        }
        self.pending: dict[str, Any] = {}
        self.startup = startup

    def sparse_random(self, tries: int = 200) -> dict[str, Any] | None:
        """A random unseen config that changes about two decisions."""
        p = min(1.0, 2.0 / max(1, len(self.decisions)))
        for _ in range(tries):
            cfg = {
                d.name: self.rng.choice([c for c in d.choices if c != d.default])
                for d in self.decisions
                if len(d.choices) > 1 and self.rng.random() < p
            }
            if cfg and self.key(cfg) not in self.seen:
                return cfg
        return None

    def propose(self) -> dict[str, Any] | None:
        if len(self.seen) <= self.startup:
            return self.sparse_random()
        for _ in range(20):
            trial = self.study.ask(self.dists)
            cfg = {name: trial.params[name] for name in self.dists}
            key = self.key(cfg)
            if key not in self.seen and key not in self.pending:
                self.pending[key] = trial
                return cfg
            known = self.seen.get(key)
            self.study.tell(
                trial,
                self._value(known) if key in self.seen else None,
                state=None if key in self.seen else _pruned(),
            )
        return None

    def _value(self, relative: float | None) -> float:
        ok = [v for v in self.seen.values() if v is not None]
        return relative if relative is not None else 2.0 * max(ok, default=1.0)

    def discard(self, config: dict[str, Any]) -> None:
        """An unmeasured proposal: closed as failed, which TPE leaves out of its model."""
        import optuna

        trial = self.pending.pop(self.key(config), None)
        if trial is not None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)

    def observe(self, config: dict[str, Any], relative: float | None) -> None:
        key = self.key(config)
        trial = self.pending.pop(key, None)
        if trial is None:  # told without being asked (e.g. the default): add it as a finished trial
            import optuna

            full = {d.name: config.get(d.name, d.default) for d in self.decisions}
            self.study.add_trial(
                optuna.trial.create_trial(params=full, distributions=self.dists, value=self._value(relative))
            )
            return
        self.study.tell(trial, self._value(relative))


def _pruned() -> Any:
    import optuna

    return optuna.trial.TrialState.PRUNED
