"""``snakemake`` for the SLURM tests, with the SLURM plugin's idle back-off turned off.

snakemake-executor-plugin-slurm waits 10 s longer before each status check that finds no
job finished (up to 180 s; hard-coded, no setting): sensible for a cluster's day-long jobs,
but with the tiny config's jobs of a few seconds it added 49 s to the profile test's 241.
Here every check comes after ``--slurm-init-seconds-before-status-checks``, as the plugin's
first one does; submission, status queries and everything else are the plugin's.

    python -m tests.snakemake_steady_status --profile profiles/slurm ...
"""

from __future__ import annotations

import sys

import snakemake_executor_plugin_slurm as slurm
from snakemake.cli import main


def _initial_interval(executor) -> float:
    return getattr(executor.workflow.executor_settings, "init_seconds_before_status_checks", 40)


# The plugin assigns the attribute after each check; the property keeps the first interval.
slurm.Executor.next_seconds_between_status_checks = property(
    _initial_interval, lambda executor, value: None
)

if __name__ == "__main__":
    sys.exit(main())
