"""The tuning database's schema: numbered SQL migrations (NNNN_name.sql), applied in order.

Installed as the package `autotune.db.migrations` (see pyproject.toml), so a wheel carries
them; `autotune/db/schema.py` applies them and records the version in `meta`.
"""
