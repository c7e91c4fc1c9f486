"""Search strategies: what to measure next. Two extension points, one file per strategy:

- `graph.py`: graph-level strategies over a flat space of decisions (ask/tell): exhaustive,
  random, Optuna TPE; the loop that measures their proposals is autotune/tuning/graph_loop.py.
- `base.py`: subgraph strategies that own their loop, e.g. MetaSchedule's evolutionary search
  over a TVM subgraph's schedule space (`metaschedule.py`).

The composer that runs them for a job is autotune/tuning/.
"""
