"""A schedule rule for CPUs with wide vectors: register-blocked micro-kernels for reductions.

MetaSchedule's `MultiLevelTiling` samples every tile factor freely, so most of its
candidates have an innermost tile that is no multiple of the vector width and an output
tile that does not fit the registers; a 64-trial search rarely finds the few that do.
This rule adds one more design space beside it for each reduction block (dense, batch
matmul, conv2d): the block's output is computed in tiles of `rows` x `cols`, `cols` a
multiple of the vector width along the output's innermost axis (vectorized), `rows`
along another spatial axis (unrolled), small enough that the accumulators stay in
registers (at most `MAX_ACCUMULATORS` vectors); the reduction runs innermost around that
tile; the outer spatial loops are fused and parallel over the target's cores. The
tile's width is fixed per design space (one space per width that divides the axis), its
height sampled (`SampleCategorical`), the levels above it too (`SamplePerfectTile`), so
the evolutionary search tunes them like any other factors, and
MetaSchedule's `RewriteLayout` postprocessor then packs each weight in the order this
nest reads it.

Example::

    rules = ms.ScheduleRule.create("llvm")
    rules.insert(1, RegisterTile(vector_lanes=16))
    space = ms.space_generator.PostOrderApply(sch_rules=rules)
"""

from __future__ import annotations

from typing import Any

from tvm import s_tir
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.schedule_rule import PyScheduleRule

#: At most this many vector registers of accumulators per register tile (x86 has 32 with
#: AVX-512, 16 with AVX2; a few are kept for the loaded operands).
MAX_ACCUMULATORS = 24
#: Register-tile heights tried along the row axis (those that divide its extent).
ROWS = (1, 2, 4, 6, 8, 12, 14, 16)
#: Register-tile widths tried, in vectors along the output's innermost axis (half vectors
#: when no whole vector divides it).
COLS = (1, 2, 4)
#: The innermost reduction split is at most this (unrolled inside the register tile).
MAX_INNER_REDUCTION = 8


def _iter_kinds(block: Any) -> list[tuple[Any, str, int]]:
    """(iter var, 'S'|'R', extent) of each block iterator; [] when any is neither kind."""
    out = []
    for iv in block.iter_vars:
        kind = {0: "S", 2: "R"}.get(int(iv.iter_type))
        if kind is None or not hasattr(iv.dom.extent, "value"):
            return []
        out.append((iv.var, kind, int(iv.dom.extent.value)))
    return out


def _innermost_output_axis(block: Any, iters: list[tuple[Any, str, int]]) -> int | None:
    """Index of the spatial iterator that is the output's last index, if it is a plain var."""
    if len(block.writes) != 1:
        return None
    region = block.writes[0].region
    if not region:
        return None
    last = region[-1].min
    for i, (var, kind, _extent) in enumerate(iters):
        if kind == "S" and last.same_as(var):
            return i
    return None


def plan(block: Any, lanes: int) -> tuple[int, int, dict[int, list[int]]] | None:
    """(vector axis, row axis, {register-tile width: heights}) for a block this rule tiles.

    A block qualifies when it is a reduction with static extents, writes one buffer whose
    innermost index is one of its spatial iterators with an extent a multiple of `lanes`
    (or of half of it), and has another spatial iterator to block rows along (the longest).
    A tile keeps at most `MAX_ACCUMULATORS` vectors of accumulators.
    """
    iters = _iter_kinds(block)
    if not iters or not any(k == "R" for _, k, _ in iters) or block.init is None:
        return None
    vec = _innermost_output_axis(block, iters)
    if vec is None:
        return None
    rows_axes = [i for i, (_, k, e) in enumerate(iters) if k == "S" and i != vec and e > 1]
    if not rows_axes:
        return None
    row = max(rows_axes, key=lambda i: iters[i][2])
    extent, height = iters[vec][2], iters[row][2]
    widths = [c * lanes for c in COLS if extent % (c * lanes) == 0]
    if not widths and lanes % 2 == 0:
        widths = [c * lanes // 2 for c in COLS[:2] if extent % (c * lanes // 2) == 0]
    out = {}
    for w in widths:
        vectors = max(1, w // lanes)
        heights = [r for r in ROWS if height % r == 0 and r * vectors <= MAX_ACCUMULATORS]
        if heights:
            out[w] = heights
    return (vec, row, out) if out else None


@derived_object
class RegisterTile(PyScheduleRule):
    """Adds a register-blocked design space for each reduction block it can tile."""

    def __init__(self, vector_lanes: int = 16) -> None:
        super().__init__()
        self.lanes = vector_lanes

    def _initialize_with_tune_context(self, context: Any) -> None:
        pass

    def clone(self) -> RegisterTile:
        return RegisterTile(self.lanes)

    def apply(self, sch: s_tir.Schedule, block_rv: Any) -> list[s_tir.Schedule]:
        block = sch.get(block_rv)
        found = plan(block, self.lanes)
        if found is None or not self._plain_nest(sch, block_rv):
            return [sch]
        vec, row, tiles = found
        spaces = [sch]
        for width, heights in tiles.items():
            tiled = sch.copy()
            try:
                self._tile(tiled, block_rv, vec, row, width, heights)
            except Exception:  # a block whose structure the primitives refuse: keep the others
                continue
            spaces.append(tiled)
        return spaces

    @staticmethod
    def _plain_nest(sch: s_tir.Schedule, block_rv: Any) -> bool:
        """Whether the block's loops bind its iterators one to one, untransformed."""
        block = sch.get(block_rv)
        loops = sch.get_loops(block_rv)
        if len(loops) != len(block.iter_vars):
            return False
        for loop_rv, iv in zip(loops, block.iter_vars):
            loop = sch.get(loop_rv)
            if not hasattr(loop.extent, "value") or int(loop.extent.value) != int(iv.dom.extent.value):
                return False
        return True

    @staticmethod
    def _tile(sch: s_tir.Schedule, block_rv: Any, vec: int, row: int, width: int, heights: list[int]) -> None:
        iters = _iter_kinds(sch.get(block_rv))
        loops = sch.get_loops(block_rv)
        # Register tile: `width` along the output's innermost axis, a sampled height.
        v_rest, v_in = sch.split(loops[vec], [None, width])
        h = sch.sample_categorical(heights, [1.0 / len(heights)] * len(heights))
        r_rest, r_in = sch.split(loops[row], [None, h])
        outer, middle, reduce_outer, reduce_inner = [], [], [], []
        for i, (loop, (_var, kind, _extent)) in enumerate(zip(loops, iters)):
            if i == vec:
                loop = v_rest
            elif i == row:
                loop = r_rest
            if kind == "S":
                o, m = sch.split(loop, sch.sample_perfect_tile(loop, n=2))
                outer.append(o)
                middle.append(m)
            else:
                o, m = sch.split(
                    loop, sch.sample_perfect_tile(loop, n=2, max_innermost_factor=MAX_INNER_REDUCTION)
                )
                reduce_outer.append(o)
                reduce_inner.append(m)
        sch.reorder(*outer, *middle, *reduce_outer, *reduce_inner, r_in, v_in)
        # Accumulate the tile in a local buffer, written back (with any elementwise epilogue)
        # once the reduction is done.
        write = sch.cache_write(block_rv, 0, "global")
        sch.reverse_compute_at(write, middle[-1], preserve_unit_loops=True)
        for consumer in sch.get_consumers(write):
            try:
                sch.reverse_compute_inline(consumer)
            except Exception:  # not elementwise over the same tile: left to the other rules
                pass
        sch.vectorize(sch.get_loops(write)[-1])
        sch.parallel(sch.fuse(*outer))
        for loop in (*reduce_inner, r_in):
            sch.unroll(loop)
        sch.vectorize(v_in)
        sch.annotate(block_rv, "schedule_rule", "None")
        sch.annotate(write, "schedule_rule", "None")
