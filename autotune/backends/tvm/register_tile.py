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

Where no whole vector divides the output's innermost axis (a convolution in NCHW whose
width is 56, 28, 14 or 7), a second kind of tile vectorizes another output axis instead:
one that only the weight is indexed by (the output channels), a multiple of the vector
width. The tile's accumulators are stored with that axis innermost (`transform_layout` on
the tile's buffer), the weight is packed to match, and the data is read as broadcast
scalars: 16 lanes of every vector do work, as oneDNN's blocked direct convolution does.

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
ROWS = (1, 2, 4, 6, 7, 8, 12, 14, 16)
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


def _reduction(block: Any) -> tuple[list[tuple[Any, str, int]], int] | None:
    """(iterators, the output's innermost axis) of a block both tiles start from: a
    contraction (a reduction with an init over two or more inputs: dense, matmul, conv) with
    static extents whose output's last index is one of its spatial iterators. A reduction of
    one input (softmax's max and sum, a norm's mean, a pool) is left to MetaSchedule: its
    output's innermost axis is rarely its input's, and vectors along it are gathers (one
    such softmax tile took LLVM 56 s to build)."""
    iters = _iter_kinds(block)
    if not iters or not any(k == "R" for _, k, _ in iters) or block.init is None:
        return None
    if len(block.writes) != 1:
        return None
    inputs: list[Any] = []
    for r in block.reads:
        if not r.source.same_as(block.writes[0].source) and not any(r.source.same_as(b) for b in inputs):
            inputs.append(r.source)
    if len(inputs) < 2:
        return None
    inner = _innermost_output_axis(block, iters)
    return None if inner is None else (iters, inner)


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


def _vars_of(region: Any) -> set[Any]:
    """The variables a buffer region's indices use."""
    from tvm import tirx

    out: set[Any] = set()
    for r in region:
        out.update(tirx.analysis.undefined_vars(r.min))
    return out


def _tiles(extent: int, height: int, lanes: int, widths: list[int]) -> dict[int, list[int]]:
    """{width: heights} of the register tiles that fit `MAX_ACCUMULATORS` vectors."""
    out = {}
    for w in widths:
        vectors = max(1, w // lanes)
        heights = [r for r in ROWS if height % r == 0 and r * vectors <= MAX_ACCUMULATORS]
        if heights and extent % w == 0:
            out[w] = heights
    return out


def plan_channels(block: Any, lanes: int) -> tuple[int, int, dict[int, list[int]]] | None:
    """(vector axis, row axis, {width: heights}) of the channel-vectorized tile, for a block
    whose output's innermost axis no whole vector divides.

    The vector axis is a spatial iterator, a multiple of `lanes`, that indexes the output
    and exactly one input, not the one the output's innermost iterator (the row axis)
    indexes: for a conv2d in NCHW, the output channels (the weight's) against the width
    (the data's).
    """
    base = _reduction(block)
    if base is None:
        return None
    iters, row = base
    if iters[row][2] % lanes == 0 or len(block.reads) < 2:
        return None
    reads = [_vars_of(r.region) for r in block.reads]
    row_var = iters[row][0]
    plain = [r.min for r in block.writes[0].region]
    found = []
    for i, (var, kind, extent) in enumerate(iters):
        if kind != "S" or i == row or extent % lanes or not any(var.same_as(m) for m in plain):
            continue
        users = [vs for vs in reads if var in vs]
        if len(users) == 1 and row_var not in users[0]:
            found.append(i)
    if not found:
        return None
    vec = max(found, key=lambda i: iters[i][2])
    tiles = _tiles(iters[vec][2], iters[row][2], lanes, [c * lanes for c in COLS])
    return (vec, row, tiles) if tiles else None


def plan(block: Any, lanes: int) -> tuple[int, int, dict[int, list[int]]] | None:
    """(vector axis, row axis, {register-tile width: heights}) for a block this rule tiles.

    A block qualifies when it is a reduction with static extents, writes one buffer whose
    innermost index is one of its spatial iterators with an extent a multiple of `lanes`
    (or of half of it), and has another spatial iterator to block rows along (the longest).
    A tile keeps at most `MAX_ACCUMULATORS` vectors of accumulators.
    """
    base = _reduction(block)
    if base is None:
        return None
    iters, vec = base
    rows_axes = [i for i, (_, k, e) in enumerate(iters) if k == "S" and i != vec and e > 1]
    if not rows_axes:
        return None
    row = max(rows_axes, key=lambda i: iters[i][2])
    extent, height = iters[vec][2], iters[row][2]
    widths = [c * lanes for c in COLS if extent % (c * lanes) == 0]
    if not widths and lanes % 2 == 0:
        widths = [c * lanes // 2 for c in COLS[:2] if extent % (c * lanes // 2) == 0]
    out = _tiles(extent, height, lanes, widths)
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
        kinds = [(plan(block, self.lanes), False), (plan_channels(block, self.lanes), True)]
        if all(p is None for p, _ in kinds) or not self._plain_nest(sch, block_rv):
            return [sch]
        spaces = [sch]
        for plan_, relayout in kinds:
            if plan_ is None:
                continue
            vec, row, tiles = plan_
            for width, heights in tiles.items():
                tiled = sch.copy()
                try:
                    self._tile(tiled, block_rv, vec, row, width, heights, relayout)
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
    def _tile(
        sch: s_tir.Schedule,
        block_rv: Any,
        vec: int,
        row: int,
        width: int,
        heights: list[int],
        relayout: bool = False,
    ) -> None:
        """Tile the block: `width` along iterator `vec` (vectorized), a sampled height along
        `row`; `relayout`: `vec` is not the output's innermost axis, so the tile's
        accumulators are stored with it innermost."""
        block = sch.get(block_rv)
        iters = _iter_kinds(block)
        loops = sch.get_loops(block_rv)
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
        if relayout:
            from tvm.tirx import IndexMap

            region = block.writes[0].region
            ndim = len(region)
            dim = next(i for i, r in enumerate(region) if r.min.same_as(iters[vec][0]))
            sch.transform_layout(
                block_rv,
                ("write", 0),
                IndexMap.from_func(lambda *ix: [*ix[:dim], *ix[dim + 1 :], ix[dim]], ndim=ndim),
            )
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
