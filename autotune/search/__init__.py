"""Search: the strategies that propose configs, and the driver loop that owns budgets.

`base.py` is the extension point (`create(kind)`), one file per strategy, `driver.py`
runs a tuning job over the models of a job file.
"""
