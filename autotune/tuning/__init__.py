"""The composer: one tuning loop on top of backends, passes, search, cost model and database.

- `jobfile.py`: the job file and its validation (every key, for every backend).
- `job.py`: the driver of a job over many models (budgets, resume, the report).
- `model.py`: tuning one model (prepare, allot, search, confirm, end to end).
- `graph_loop.py`: the ask / rank / measure / tell loop of graph-level searches.
- `confirm.py`: only a candidate that beats the default side by side becomes the best.
- `budget.py`, `report.py`: trial and time shares; the job's table.

Nothing below this package imports it (an import-linter contract in pyproject.toml).
"""
