"""`snakemake --profile profiles/slurm` on a real one-node SLURM cluster: the tiny config's
retrieval chain for one image model, and the tiny motor config's per-session jobs as a SLURM
array.

The cluster comes from :mod:`tests.slurm_cluster` (it installs Debian's SLURM where it is
missing; the test is skipped, with the reason, where it cannot). The profile is the one users
run; the test adds only what a cluster without accounting (no slurmdbd) needs, and asks for
the training rules' GPU from fake GRES so the GPU request is exercised too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ..conftest import merged
from ..slurm_cluster import slurm_cluster
from .test_workflow import BIN, CONFIG, copy_project

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]
MOTOR_CONFIG = "config/tests/tiny_motor.yaml"

#: No slurmdbd: ``sacct`` cannot answer, so job states come from ``squeue`` (the harness's
#: MinJobAge keeps finished jobs listed) and there is no account to guess. The waits are
#: shortened for a test (and the plugin's idle back-off turned off, see STEADY_STATUS_PATH);
#: nothing else of the profile is changed.
TEST_OPTIONS = (
    "--slurm-status-command", "squeue",
    "--slurm-no-account",
    "--slurm-init-seconds-before-status-checks", "1",
    "--seconds-between-status-checks", "1",
)  # fmt: skip
#: Where ``tests.snakemake_steady_status`` is found: ``snakemake`` without the SLURM plugin's
#: idle back-off (10 s more before every status check that finds no job finished), which made
#: this test wait 49 s longer for jobs of a few seconds.
STEADY_STATUS_PATH = str(Path(__file__).resolve().parents[2])
#: The image model the cluster decodes: the tiny config's other one (``color_histogram``) makes
#: the same kinds of jobs again (5 more SLURM jobs: 18 in all took 178-204 s in the suite, 13
#: took 120-165 s); every model's jobs are independent of the others', so this one's rows
#: equal the local run's bit for bit.
MODEL = "hog"
#: The jobs that must run under SLURM (the rest are localrules).
REMOTE = {
    "simulate_things_meg": 1,
    "preprocess_meg": 2,
    "embed_images": 1,
    "fit_ridge": 2,
    "fit_brain_module": 1,
    "evaluate_retrieval": 2,
    "evaluate_timecourse": 2,
}
LOCAL = ("collect_metrics", "plot_meg_retrieval", "plot_meg_timecourse")
#: What the cluster builds: the retrieval chain of one image model, 17 jobs (a GPU training,
#: BLAS-threaded ridge fits, per-subject and per-model jobs, localrules). The tiny config's
#: generation chain (12 more jobs of the same kinds) is left to tiny_project's run.
FIGURES = ("meg_retrieval", "meg_timecourse")


def run_profile(cluster, project: Path, config: str, *targets: str) -> subprocess.CompletedProcess:
    """``snakemake <targets> --profile profiles/slurm --configfile <config>`` on ``cluster``,
    with :data:`TEST_OPTIONS`; fails with Snakemake's and the daemons' logs unless it exits 0."""
    env = cluster.env(
        {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "BRAINLATENT_SLURM_PARTITION": cluster.partition,
            "BRAINLATENT_GPUS": "1",
        }
    )
    result = subprocess.run(
        [str(BIN / "python"), "-m", "tests.snakemake_steady_status", *targets, "--profile",
         "profiles/slurm", "--configfile", config, *TEST_OPTIONS],
        cwd=project, capture_output=True, text=True, timeout=1200,
        env={**env, "PYTHONPATH": os.pathsep.join(
            filter(None, [STEADY_STATUS_PATH, env.get("PYTHONPATH")])
        )},
    )  # fmt: skip
    assert result.returncode == 0, (
        f"snakemake exited {result.returncode}:\n{result.stderr[-6000:]}\n{cluster.log_tails()}"
    )
    return result


def test_tiny_config_through_the_slurm_profile_matches_a_local_run(tmp_path, tiny_project):
    local = tiny_project  # `snakemake --cores 2` on the tiny config, shared with test_workflow
    project = copy_project(tmp_path / "cluster")
    tiny = yaml.safe_load((project / CONFIG).read_text())
    one_model = merged({"things_meg": {"image_models": [MODEL]}}, tiny)
    (project / "config/tests/tiny_one_model.yaml").write_text(yaml.safe_dump(one_model))
    # fit_ridge asks for 8 threads (the profile): the node offers 16 CPUs and 4 GPUs on 2 real
    # cores, so jobs run side by side (8 and 1: the ridge fits and GPU jobs ran one at a time).
    with slurm_cluster(tmp_path / "slurm", cpus=16, memory_mb=20_000, gpus=4) as cluster:
        began = time.monotonic()
        result = run_profile(
            cluster,
            project,
            "config/tests/tiny_one_model.yaml",
            *(f"results/figures/{figure}.pdf" for figure in FIGURES),
        )
        took = time.monotonic() - began
        cluster.wait_until_drained(timeout=60)
        jobs = cluster.jobs()
        left = cluster.active_jobs()
    print(f"tiny config through SLURM: {took:.0f} s, {len(jobs)} jobs")

    assert left == []
    assert all(job.state == "COMPLETED" and job.exit_code == "0:0" for job in jobs.values()), jobs
    rules = pd.Series([job.comment.removeprefix("rule_").split("_wildcards")[0] for job in
                       jobs.values()])  # fmt: skip
    counts = {rule: int(sum(rules.str.fullmatch(rf"{rule}.*"))) for rule in REMOTE}
    assert counts == REMOTE, rules.tolist()
    assert not any(rules.str.startswith(LOCAL)), rules.tolist()  # ran on the submitting host
    # Snakemake's log names the SLURM job id of every job it submitted: exactly those ran.
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", result.stdout + result.stderr)
    assert sorted(map(int, submitted)) == sorted(jobs), submitted

    for table in ("retrieval", "timecourse"):
        path = f"results/things_meg/metrics/{table}.parquet"
        cluster_rows = pd.read_parquet(project / path)
        local_rows = pd.read_parquet(local / path)
        assert set(cluster_rows["image_model"]) == {MODEL}
        pd.testing.assert_frame_equal(
            cluster_rows,
            local_rows[local_rows["image_model"] == MODEL].reset_index(drop=True),
            check_exact=True,
        )
    for figure in FIGURES:
        assert (project / "results" / "figures" / f"{figure}.pdf").stat().st_size > 5_000


def test_array_rules_run_as_one_slurm_array(tmp_path):
    """The profile's ``slurm-array-jobs`` rules (the real config's 1,518 Allen sessions'
    preprocessing, the motor sessions' binning) go to SLURM as one ``sbatch --array`` per
    rule: the tiny motor config's 4 sessions are binned by one array of 4 tasks, followed to
    the end through ``squeue``, each task binning its own session."""
    project = copy_project(tmp_path / "cluster")
    with slurm_cluster(tmp_path / "slurm", cpus=16, memory_mb=20_000, gpus=4) as cluster:
        result = run_profile(cluster, project, MOTOR_CONFIG, "--until", "bin_motor_trials")
        cluster.wait_until_drained(timeout=60)
        jobs = cluster.jobs()
        left = cluster.active_jobs()

    assert left == []
    assert all(job.state == "COMPLETED" and job.exit_code == "0:0" for job in jobs.values()), jobs
    single = [job for job in jobs.values() if job.array is None]
    tasks = [job for job in jobs.values() if job.array is not None]
    assert [job.comment for job in single] == ["rule_simulate_motor_sessions"], jobs
    assert len({job.array[0] for job in tasks}) == 1, jobs  # one sbatch call
    assert sorted(job.array[1] for job in tasks) == [1, 2, 3, 4], jobs
    assert all(job.comment.startswith("rule_bin_motor_trials") for job in tasks), jobs
    log = result.stdout + result.stderr
    assert len(re.findall(r"Submitted array job with Snakemake IDs", log)) == 1, log[-3000:]
    binned = sorted((project / "results/motor/sub-S/trials").glob("*.npz"))
    sessions = [json.loads(str(np.load(path)["meta"]))["session"] for path in binned]
    assert sessions == [path.stem for path in binned] and len(set(sessions)) == 4, sessions
