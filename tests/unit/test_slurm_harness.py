"""tests/slurm_cluster.py without a cluster: its parsers and the reasons it skips."""

from __future__ import annotations

import subprocess

import pytest

from .. import slurm_cluster as harness

LOG = """\
[2026-11-25T19:06:10.676] error: Could not open job state file /x/state/job_state
[2026-11-25T19:06:12.715] _slurm_rpc_submit_batch_job: JobId=1 InitPrio=4294901759 usec=377
[2026-11-25T19:06:12.716] _slurm_rpc_submit_batch_job: JobId=2 InitPrio=4294901758 usec=300
[2026-11-25T19:06:12.717] _slurm_rpc_submit_batch_job: JobId=3 InitPrio=4294901757 usec=300
[2026-11-25T19:06:12.718] _slurm_rpc_submit_batch_job: JobId=4 InitPrio=4294901756 usec=300
[2026-11-25T19:06:12.719] _slurm_rpc_submit_batch_job: JobId=5 InitPrio=4294901755 usec=300
[2026-11-25T19:06:12.720] _slurm_rpc_submit_batch_job: JobId=6 InitPrio=4294901754 usec=300
[2026-11-25T19:06:13.681] sched: Allocate JobId=1 NodeList=vm #CPUs=1 Partition=debug
[2026-11-25T19:06:13.682] sched/backfill: _start_job: Started JobId=2 in debug on vm
[2026-11-25T19:06:13.683] sched: Allocate JobId=3 NodeList=vm #CPUs=1 Partition=debug
[2026-11-25T19:06:13.684] sched: Allocate JobId=4 NodeList=vm #CPUs=1 Partition=debug
[2026-11-25T19:06:13.685] sched: Allocate JobId=6_1(7) NodeList=vm #CPUs=1 Partition=debug
[2026-11-25T19:06:18.183] _job_complete: JobId=1 WEXITSTATUS 0
[2026-11-25T19:06:18.183] _job_complete: JobId=1 done
[2026-11-25T19:06:18.184] _job_complete: JobId=2 WEXITSTATUS 3
[2026-11-25T19:06:18.184] _job_complete: JobId=2 done
[2026-11-25T19:06:18.185] _slurm_rpc_kill_job: REQUEST_KILL_JOB JobId=3 uid 0
[2026-11-25T19:06:18.186] Time limit exhausted for JobId=4
[2026-11-25T19:06:18.187] _job_complete: JobId=6_1(7) WTERMSIG 9
[2026-11-25T19:06:18.187] _job_complete: JobId=6_1(7) done
"""


def test_log_gives_every_job_and_its_state():
    jobs: dict[int, harness.Job] = {}
    harness._merge_log(jobs, LOG)
    states = {job_id: (job.state, job.exit_code) for job_id, job in jobs.items()}
    assert states == {
        1: ("COMPLETED", "0:0"),
        2: ("FAILED", "3:0"),
        3: ("CANCELLED", ""),
        4: ("TIMEOUT", ""),
        5: ("PENDING", ""),
        6: ("PENDING", ""),  # the array's own record; its task ran as job 7
        7: ("FAILED", "0:9"),
    }


def test_scontrol_and_jobcomp_records_override_the_log():
    jobs: dict[int, harness.Job] = {}
    harness._merge_log(jobs, LOG)
    line = (
        "JobId=1 JobName=snake run 1 UserId=root(0) GroupId=root(0) Priority=1 "
        "JobState=COMPLETED Reason=None ExitCode=0:0 Comment=rule_a_wildcards "
        "TRES=cpu=1,mem=200M,node=1 NodeList=vm WorkDir=/tmp/with space"
    )
    record = harness._parse_keyvalues(line)
    assert record["JobName"] == "snake run 1"
    assert record["TRES"] == "cpu=1,mem=200M,node=1"
    assert record["WorkDir"] == "/tmp/with space"
    harness._merge_record(jobs, record, "scontrol")
    jobcomp = "JobId=8 UserId=root(0) Name=x JobState=OUT_OF_MEMORY NodeList=vm ExitCode=0:125"
    harness._merge_record(jobs, harness._parse_keyvalues(jobcomp), "jobcomp")
    assert jobs[1].name == "snake run 1"
    assert jobs[1].comment == "rule_a_wildcards"
    assert jobs[1].sources == {"log", "scontrol"}
    assert (jobs[8].name, jobs[8].state, jobs[8].exit_code) == ("x", "OUT_OF_MEMORY", "0:125")
    assert jobs[8].finished and not jobs[5].finished
    assert jobs[1].array is None


def test_array_tasks_know_their_array():
    """jobcomp's and scontrol's records of an array task (``sbatch --array=1-4``: the array's
    id is also its last task's); a pending array's range is no task."""
    jobs: dict[int, harness.Job] = {}
    for line in (
        "JobId=3 Name=x JobState=COMPLETED ArrayJobId=2 ArrayTaskId=1 ExitCode=0:0",
        "JobId=2 Name=x JobState=COMPLETED ArrayJobId=2 ArrayTaskId=4 ExitCode=0:0",
        "JobId=9 JobName=y JobState=PENDING ArrayJobId=9 ArrayTaskId=1-4 Comment=rule_b",
    ):
        harness._merge_record(jobs, harness._parse_keyvalues(line), "jobcomp")
    assert (jobs[3].array, jobs[2].array, jobs[9].array) == ((2, 1), (2, 4), None)


@pytest.mark.parametrize(("spec", "job_id"), [("5", 5), ("7_1(8)", 8), ("7_[1-3]", 7)])
def test_raw_job_id(spec, job_id):
    assert harness._raw_id(spec) == job_id


def test_skips_without_root(monkeypatch, tmp_path):
    monkeypatch.setattr(harness.os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        with harness.slurm_cluster(tmp_path):
            pass


def test_skips_without_apt_get(monkeypatch):
    monkeypatch.setattr(harness.shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="no apt-get"):
        harness._ensure_packages()


def test_skips_when_apt_fails(monkeypatch, tmp_path):
    monkeypatch.setattr(
        harness.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None
    )
    monkeypatch.setattr(harness, "POLICY_RC_D", tmp_path / "policy-rc.d")
    calls = []

    def apt(args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(args, 100, "", "E: Could not get lock")

    monkeypatch.setattr(harness.subprocess, "run", apt)
    with pytest.raises(pytest.skip.Exception, match="`apt-get update` exited 100") as skipped:
        harness._ensure_packages()
    assert "Could not get lock" in str(skipped.value)
    assert calls == [["apt-get", "update"]]
    assert not (tmp_path / "policy-rc.d").exists()  # written for the install, then removed


def test_plugin_lookup_does_not_invent_plugins():
    assert not harness._plugin_installed("no_such_plugin_anywhere")
