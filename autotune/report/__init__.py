"""The report of a tuning job: an HTML page (self-contained, PNG plots inlined) and the same
content as Markdown beside its PNG files, made from what the database holds.

Example::

    from autotune.db import open_db
    from autotune.report import write_report
    with open_db("tuning.sqlite", readonly=True) as db:
        paths = write_report(db, "report/")          # the latest job
        print(paths.html, paths.markdown)
"""

from __future__ import annotations

from autotune.report.data import ReportData, collect
from autotune.report.render import ReportPaths, check_out, write_report

__all__ = ["ReportData", "ReportPaths", "check_out", "collect", "write_report"]
