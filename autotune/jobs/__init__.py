"""Tuning jobs: the job file (`jobs.toml`) and its validation."""

from autotune.jobs.jobfile import JobSpec, ModelEntry, load_job

__all__ = ["JobSpec", "ModelEntry", "load_job"]
