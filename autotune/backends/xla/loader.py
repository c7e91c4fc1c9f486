"""The compile-time loader for JAX (`autotune.jax.jit`): `jax.jit` with the best tuned XLA config.

On the first call with a new argument signature it lowers the function, fingerprints the
lowering, looks the fingerprint up in the tuning database for this target and jaxlib,
and compiles with its best config (`TuningDatabase.best`: a confirmed win over XLA's
default), i.e. its compiler options, disabled passes and layouts. With nothing tuned, no
database, or a config that no longer applies (a warning says so) it is plain `jax.jit`.

Example::

    import autotune.jax
    f = autotune.jax.jit(model_fn)                 # same arguments as jax.jit
    y = f(params, x)
    f.last                                         # what the lookup found and applied
"""

from __future__ import annotations

import functools
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax

from autotune.backends.xla.build import XlaBuild
from autotune.errors import first_line


@dataclass
class Lookup:
    """What one compile-time lookup found: the fingerprint, the config applied, its cost."""

    fingerprint: str
    config: dict[str, Any] = field(default_factory=dict)
    lookup_s: float = 0.0
    reason: str = ""  # why the default was used, when it was

    @property
    def tuned(self) -> bool:
        return bool(self.config)


class _Store:
    """A read-only view of one database file, opened once per process."""

    def __init__(self, path: str) -> None:
        from autotune.db.sqlite import SQLiteDatabase

        self.db = SQLiteDatabase(path, readonly=True)
        self.targets: dict[str, int | None] = {}

    def target(self, platform: str) -> int | None:
        if platform not in self.targets:
            from autotune.backends.xla.workload import target_info

            self.targets[platform] = self.db.find_target(target_info(platform))
        return self.targets[platform]

    def best(self, fingerprint: str, platform: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(config, workload meta) of the best, or None when the default stands."""
        from autotune.backends.xla.workload import LOOKUP_SKIPS

        tid = self.target(platform)
        if tid is None:
            return None
        wid = self.db.workload_id(fingerprint)
        if wid is None:
            return None
        best = self.db.best(wid, tid)
        if best is None or not best.config:
            return None
        # Only what the passes need to apply a config (not the stored HLO text).
        return best.config, self.db.workload_meta(wid, without=LOOKUP_SKIPS)


@functools.lru_cache(maxsize=8)
def _store(path: str) -> _Store | None:
    """The opened database (once per process), None when there is none; raises DatabaseError
    for a file that cannot be used (not cached: a fixed file is picked up by the next call)."""
    if not os.path.exists(path):
        return None
    return _Store(path)


def _platform() -> str:
    return "gpu" if jax.default_backend() in ("gpu", "cuda", "rocm") else "cpu"


class TunedFunction:
    """A jitted function that compiles each argument signature with its tuned XLA config."""

    def __init__(
        self, fn: Callable, db: str | None, jit_kwargs: dict[str, Any], strict: bool = False
    ) -> None:
        self.fn, self.db, self.jit_kwargs, self.strict = fn, db, jit_kwargs, strict
        self._by_signature: dict[Any, tuple[Any, Lookup]] = {}
        self._fast: Any = None  # the jitted function of the only signature seen, if one
        self.last: Lookup | None = None
        static = jit_kwargs.get("static_argnums", ())
        self._static = {static} if isinstance(static, int) else set(static or ())
        self._static_names = set(
            [jit_kwargs["static_argnames"]]
            if isinstance(jit_kwargs.get("static_argnames"), str)
            else jit_kwargs.get("static_argnames") or ()
        )
        functools.update_wrapper(self, fn)

    def _signature(self, args: tuple, kwargs: dict) -> Any:
        """A hashable key of what makes a new compile: tree structure, shapes, dtypes, statics."""
        static: tuple = ()
        if self._static or self._static_names:
            static = tuple(args[i] for i in sorted(self._static) if i < len(args)) + tuple(
                sorted((k, v) for k, v in kwargs.items() if k in self._static_names)
            )
            args = tuple(a for i, a in enumerate(args) if i not in self._static)
            kwargs = {k: v for k, v in kwargs.items() if k not in self._static_names}
        leaves, tree = jax.tree_util.tree_flatten((args, kwargs))
        return tree, static, tuple([(x.shape, x.dtype) if hasattr(x, "dtype") else type(x) for x in leaves])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fast = self._fast
        if fast is not None:
            # One signature seen so far: call jax's jitted function directly and let its own
            # cache tell whether these arguments compiled something new (~0.1 us).
            seen = fast._cache_size()
            try:
                out = fast(*args, **kwargs)
                if fast._cache_size() == seen:
                    return out
            except Exception:  # e.g. a tuned layout that does not fit new shapes: resolve below
                pass
            self._fast = None  # several signatures from now on: dispatch by signature
        key = self._signature(args, kwargs)
        entry = self._by_signature.get(key)
        if entry is not None:
            self.last = entry[1]
            return entry[0](*args, **kwargs)
        fn, look = self._resolve(args, kwargs)
        if look.tuned:
            try:
                out = fn(*args, **kwargs)  # compiles with the tuned config
            except Exception as exc:  # XLA refused the options: compile with its defaults
                if self.strict:
                    raise
                fn, look = self._fallback(jax.jit(self.fn, **self.jit_kwargs), look, exc)
                out = fn(*args, **kwargs)
        else:
            out = fn(*args, **kwargs)
        self._by_signature[key], self.last = (fn, look), look
        if len(self._by_signature) == 1:
            self._fast = fn
        return out

    def lower(self, *args: Any, **kwargs: Any) -> Any:
        """The lowering this function compiles for these arguments (tuned config applied)."""
        key = self._signature(args, kwargs)
        entry = self._by_signature.get(key) or self._resolve(args, kwargs)
        self._by_signature[key] = entry
        return entry[0].lower(*args, **kwargs)

    def _resolve(self, args: tuple, kwargs: dict) -> tuple[Any, Lookup]:
        from autotune.backends.xla.workload import fingerprint
        from autotune.db import default_path

        plain = jax.jit(self.fn, **self.jit_kwargs)
        lowered = plain.lower(*args, **kwargs)
        t1 = time.perf_counter()
        look = Lookup(fingerprint(lowered))
        path = str(self.db or default_path())
        try:
            store = _store(path)
            found = store.best(look.fingerprint, _platform()) if store else None
        except Exception as exc:  # whatever is wrong with the database, the function compiles
            if self.strict:
                raise
            first = first_line(exc)
            warnings.warn(f"autotune: {path}: unusable, compiling with XLA defaults ({first})", stacklevel=4)
            look.lookup_s, look.reason = time.perf_counter() - t1, f"database unusable: {first}"
            return plain, look
        look.lookup_s = time.perf_counter() - t1
        if found is None:
            look.reason = "no database" if store is None else "nothing tuned beats the default"
            return plain, look
        config, meta = found
        try:
            build = XlaBuild.from_config(config, meta)
            if {"in_shardings", "out_shardings"} & set(self.jit_kwargs):
                build.in_layouts, build.out_layouts = {}, {}
            tuned = build.jit(self.fn, args, **self.jit_kwargs)
        except Exception as exc:  # decisions this jaxlib or function no longer offers, bad data
            if self.strict:
                raise
            return self._fallback(plain, look, exc)
        look.config = config
        return tuned, look

    def _fallback(self, plain: Any, look: Lookup, exc: Exception) -> tuple[Any, Lookup]:
        """A config that no longer applies must never break a compile: warn, use the default."""
        warnings.warn(
            f"autotune: tuned config for {look.fingerprint} does not apply ({exc}); using XLA defaults",
            stacklevel=4,
        )
        look.config, look.reason = {}, f"config does not apply: {first_line(exc)}"
        return plain, look


def jit(
    fn: Callable | None = None,
    *,
    db: str | os.PathLike | None = None,
    strict: bool = False,
    **jit_kwargs: Any,
) -> Any:
    """Drop-in for `jax.jit` that applies the tuning database's best XLA config.

    `db` is a database file (default: $AUTOTUNE_DB or the embedded default); every other
    keyword goes to `jax.jit`. Usable as `@autotune.jax.jit` or `@autotune.jax.jit(db=...)`.
    Whatever is wrong with the database, the function compiles with XLA's defaults and one
    warning; `strict=True` raises instead.
    """
    if fn is None:
        return lambda f: TunedFunction(f, str(db) if db else None, jit_kwargs, strict)
    return TunedFunction(fn, str(db) if db else None, jit_kwargs, strict)
