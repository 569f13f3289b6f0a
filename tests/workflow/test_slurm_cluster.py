"""The Snakemake SLURM executor against a real one-node SLURM cluster on localhost.

The cluster comes from :mod:`tests.slurm_cluster` (it installs SLURM with apt-get where it
is missing, and the test is skipped, with the reason, where it cannot).
"""

from __future__ import annotations

import subprocess
import time

import pytest

from ..conftest import REPO
from ..slurm_cluster import slurm_cluster

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]
BIN = REPO / ".venv" / "bin"

SNAKEFILE = """
rule all:
    input: "b.txt"

rule a:
    output: "a.txt"
    shell: 'echo "$(hostname) $SLURM_JOB_ID" > {output}'

rule b:
    input: "a.txt"
    output: "b.txt"
    shell: 'cat {input} > {output} && echo "$(hostname) $SLURM_JOB_ID" >> {output}'
"""

#: What the executor needs on a cluster without slurmdbd: ``sacct`` cannot answer, so the
#: status comes from ``squeue`` (MinJobAge keeps finished jobs listed), and there is no
#: account to guess or validate.
SLURM_OPTIONS = (
    "--executor",
    "slurm",
    "--slurm-status-command",
    "squeue",
    "--slurm-no-account",
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--seconds-between-status-checks",
    "1",
    "--latency-wait",
    "10",
)


def test_two_rules_run_as_slurm_jobs(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "Snakefile").write_text(SNAKEFILE)
    began = time.monotonic()
    with slurm_cluster(tmp_path / "slurm") as cluster:
        started = time.monotonic()
        result = subprocess.run(
            [
                str(BIN / "snakemake"),
                *SLURM_OPTIONS,
                "--jobs",
                "2",
                "--default-resources",
                "mem_mb=200",
                "runtime=5",
                f"slurm_partition={cluster.partition}",
            ],
            cwd=project,
            env=cluster.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        ran = time.monotonic() - started
        assert result.returncode == 0, (
            f"snakemake exited {result.returncode}:\n{result.stderr[-6000:]}\n{cluster.log_tails()}"
        )
        cluster.wait_until_drained(timeout=30)
        jobs = cluster.jobs()
        active = cluster.active_jobs()
    print(
        f"install {cluster.timings['install_s']:.1f} s, cluster start "
        f"{cluster.timings['start_s']:.1f} s, snakemake {ran:.1f} s, "
        f"all {time.monotonic() - began:.1f} s"
    )

    lines = (project / "b.txt").read_text().split("\n")
    assert (project / "a.txt").read_text().split("\n")[0] == lines[0]
    ids = set()
    for line in filter(None, lines):
        host, job_id = line.split()
        assert host == cluster.node
        assert job_id.isdigit(), line
        ids.add(int(job_id))
    assert len(ids) == 2  # rule a and rule b each ran as their own job
    assert {i for i, job in jobs.items() if job.state == "COMPLETED"} == ids, jobs
    assert set(jobs) == ids, jobs  # nothing else was submitted
    assert all(job.exit_code == "0:0" for job in jobs.values()), jobs
    assert len({job.name for job in jobs.values()}) == 1  # the executor's run id
    by_rule = {job.comment: job_id for job_id, job in jobs.items()}
    assert by_rule == {"rule_a": int(lines[0].split()[1]), "rule_b": int(lines[1].split()[1])}
    assert active == []
