"""autotune: a learned autotuner for the TVM and XLA compilers, with a shared SQLite database.

Compile-time entry points are `autotune.tvm.compile` (TVM); backends import lazily so that
`import autotune` stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"
