"""A real single-node SLURM cluster on localhost, for the length of one test.

    from tests.slurm_cluster import slurm_cluster

    with slurm_cluster(tmp_path / "slurm") as cluster:
        subprocess.run(["sbatch", "--wrap", "hostname"], env=cluster.env(), check=True)
        ...
        cluster.wait_until_drained()
        cluster.jobs()  # {job id: Job(job_id, name, state, exit_code, comment, nodes)}

What it does, and undoes at exit (exceptions included):

* installs ``slurmctld slurmd slurm-client munge`` with apt-get when a command is missing
  (the test is skipped, with the reason, where that is impossible: not root, no apt-get,
  apt failing);
* starts ``munged`` as the ``munge`` user unless one is running (and stops only one it started);
* writes ``/etc/slurm/slurm.conf`` (job steps read the default path, not ``$SLURM_CONF``),
  and ``gres.conf`` beside it when fake GPUs are asked for, both marked with :data:`MARKER`;
  state, spool, pid and log files all live in ``workdir``;
* runs ``slurmctld -D -i`` and ``slurmd -D`` in their own sessions and waits until the node
  is ``idle``;
* at exit cancels what is left in the queue, stops both daemons (SIGTERM, then SIGKILL),
  removes the configuration it wrote, and checks that no daemon it started is left.

There is no ``slurmdbd``, so ``sacct`` cannot answer: :meth:`SlurmCluster.jobs` merges the
slurmctld log (every submitted job id), the ``jobcomp/filetxt`` completion file (name, final
state, exit code) and ``scontrol show job`` (``MinJobAge`` keeps finished jobs there for ten
minutes). Clients such as the Snakemake SLURM executor must query ``squeue``.

It will not touch a cluster it did not start: the test is skipped when a ``slurmctld`` or
``slurmd`` runs that this harness did not start, or when ``/etc/slurm/slurm.conf`` exists
without :data:`MARKER`. Daemons left by a harness that was killed (recognised by
:data:`ENV_MARKER` in their environment) are stopped. Concurrent harnesses on one machine
take turns (a file lock).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

MARKER = "# written by brainlatent tests/slurm_cluster.py"
#: Set in the environment of every daemon the harness starts, to recognise stale ones.
ENV_MARKER = "BRAINLATENT_SLURM_HARNESS"
SLURM_CONF = Path("/etc/slurm/slurm.conf")
GRES_CONF = SLURM_CONF.with_name("gres.conf")  # read from beside slurm.conf
#: Character devices to stand for GPUs (a job sees CUDA_VISIBLE_DEVICES, finds no GPU).
FAKE_GPU_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
COMMANDS = (
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "sinfo",
    "scontrol",
    "scancel",
    "munged",
    "munge",
)
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_RUN = Path("/run/munge")
MUNGE_PID = MUNGE_RUN / "munged.pid"
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
LOCK = Path(tempfile.gettempdir()) / "brainlatent-slurm-cluster.lock"
#: States after which a job does not run any more (squeue/scontrol spelling).
FINISHED = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "BOOT_FAIL",
        "DEADLINE",
        "PREEMPTED",
    }
)


class SlurmHarnessError(RuntimeError):
    """The cluster did not start or did not stop cleanly."""


@dataclasses.dataclass
class Job:
    """One job as the controller saw it."""

    job_id: int
    name: str = ""
    state: str = "UNKNOWN"  # PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ...
    exit_code: str = ""  # "0:0" = exit status 0, no signal
    comment: str = ""  # the Snakemake executor puts the rule (and wildcards) here
    nodes: str = ""
    array: tuple[int, int] | None = None  # (array job id, task id) of an array's task
    sources: set[str] = dataclasses.field(default_factory=set)  # log, jobcomp, scontrol

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


@dataclasses.dataclass
class SlurmCluster:
    """A running cluster; built by :func:`slurm_cluster`."""

    workdir: Path
    conf: Path
    log_dir: Path
    state_dir: Path
    spool_dir: Path
    node: str
    cpus: int
    memory_mb: int
    partitions: tuple[str, ...]
    gpus: int
    jobcomp: Path | None  # the jobcomp/filetxt file, when the plugin is installed
    timings: dict[str, float] = dataclasses.field(default_factory=dict)  # install_s, start_s
    _daemons: dict[str, subprocess.Popen] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def partition(self) -> str:
        """The default partition."""
        return self.partitions[0]

    @property
    def slurmctld_log(self) -> Path:
        return self.log_dir / "slurmctld.log"

    @property
    def slurmd_log(self) -> Path:
        return self.log_dir / "slurmd.log"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment for clients: this cluster's ``SLURM_CONF``, no inherited job context."""
        env = {
            k: v
            for k, v in (os.environ if base is None else base).items()
            if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_", "SQUEUE_", "SINFO_"))
        }
        env["SLURM_CONF"] = str(self.conf)
        return env

    def run(self, *args: str, timeout: float = 30, check: bool = True) -> str:
        """Run a SLURM client command against this cluster; its stdout."""
        result = subprocess.run(
            args, env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise SlurmHarnessError(
                f"{' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result.stdout

    def node_state(self) -> str:
        """``idle``, ``mixed``, ``allocated``, ``down``, ... (``sinfo`` lists it per partition)."""
        return _node_state(self.run("sinfo", "-h", "-N", "-n", self.node, "-o", "%T"))

    def active_jobs(self) -> list[int]:
        """Job ids that plain ``squeue`` lists (pending, running, completing, ...)."""
        out = self.run("squeue", "-h", "-o", "%i")
        return [_raw_id(line.strip()) for line in out.splitlines() if line.strip()]

    def wait_until_drained(self, timeout: float = 60) -> None:
        """Wait until no job is pending, running or completing."""
        deadline = time.monotonic() + timeout
        while self.active_jobs():
            if time.monotonic() > deadline:
                raise SlurmHarnessError(
                    f"jobs still active after {timeout} s:\n{self.run('squeue', check=False)}"
                )
            time.sleep(0.5)

    def jobs(self) -> dict[int, Job]:
        """Every job this cluster saw, by job id (the ``SLURM_JOB_ID`` a job sees)."""
        jobs: dict[int, Job] = {}
        if self.slurmctld_log.exists():
            _merge_log(jobs, self.slurmctld_log.read_text(errors="replace"))
        if self.jobcomp is not None and self.jobcomp.exists():
            for line in self.jobcomp.read_text(errors="replace").splitlines():
                _merge_record(jobs, _parse_keyvalues(line), "jobcomp")
        if self._daemons.get("slurmctld") and self._daemons["slurmctld"].poll() is None:
            out = self.run("scontrol", "-o", "show", "job", check=False)
            for line in out.splitlines():
                if line.startswith("JobId="):
                    _merge_record(jobs, _parse_keyvalues(line), "scontrol")
        return dict(sorted(jobs.items()))

    def completed_job_ids(self) -> set[int]:
        return {job_id for job_id, job in self.jobs().items() if job.state == "COMPLETED"}

    def log_tails(self, lines: int = 40) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path}\n" + "\n".join(text))
        return "\n".join(parts)


# ---------------------------------------------------------------------------------------
# parsing

_JOBID = r"JobId=(?P<spec>\d+(?:_\d+|_\[[^\]]*\])?)(?:\((?P<raw>\d+)\))?"
_KEY = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=")


def _raw_id(spec: str) -> int:
    """``5`` -> 5; ``7_1(8)`` -> 8 (an array task's own id); ``7_[1-3]`` -> 7."""
    match = re.fullmatch(r"(\d+)(?:_\S*?)?(?:\((\d+)\))?", spec)
    if not match:
        raise ValueError(f"not a SLURM job id: {spec!r}")
    return int(match.group(2) or match.group(1))


def _node_state(sinfo: str) -> str:
    return ",".join(sorted({line.strip() for line in sinfo.splitlines() if line.strip()}))


def _parse_keyvalues(line: str) -> dict[str, str]:
    """``Key=value Key2=value with spaces Key3=a=b`` -> dict (scontrol -o, jobcomp/filetxt)."""
    matches = list(_KEY.finditer(line))
    record = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following is not None else len(line)
        record.setdefault(match.group(1), line[match.end() : end].strip())
    return record


def _merge_record(jobs: dict[int, Job], record: dict[str, str], source: str) -> None:
    if "JobId" not in record:
        return
    try:
        job_id = int(record["JobId"].split()[0])
    except ValueError:
        return
    job = jobs.setdefault(job_id, Job(job_id))
    job.sources.add(source)
    name = record.get("JobName", record.get("Name"))
    if name:
        job.name = name
    if record.get("JobState"):
        job.state = record["JobState"].split()[0].upper()
    if record.get("ExitCode"):
        job.exit_code = record["ExitCode"]
    if record.get("Comment") and record["Comment"] != "(null)":
        job.comment = record["Comment"]
    if record.get("NodeList") and record["NodeList"] != "(null)":
        job.nodes = record["NodeList"]
    array, task = record.get("ArrayJobId", ""), record.get("ArrayTaskId", "")
    if array.isdigit() and task.isdigit():  # a pending array's record says "ArrayTaskId=1-4"
        job.array = (int(array), int(task))


_LOG_EVENTS = (
    (re.compile(r"_slurm_rpc_(?:submit_batch_job|allocate_resources): " + _JOBID), "submitted"),
    (
        re.compile(r"(?:sched: Allocate|_start_job: Started|sched/backfill: .*?Started) " + _JOBID),
        "started",
    ),
    (re.compile(r"(?:REQUEST_KILL_JOB|_slurm_rpc_kill_job).*?" + _JOBID), "cancelled"),
    (re.compile(r"[Tt]ime ?[Ll]imit exhausted for " + _JOBID), "timeout"),
    (
        re.compile(r"_job_complete: " + _JOBID + r" (?P<how>WEXITSTATUS|WTERMSIG) (?P<code>\d+)"),
        "code",
    ),
    (re.compile(r"_job_complete: " + _JOBID + r" done"), "done"),
)


def _merge_log(jobs: dict[int, Job], text: str) -> None:
    """Job ids and coarse states from the slurmctld log (its wording since SLURM ~17)."""
    seen: dict[int, dict] = {}
    for line in text.splitlines():
        if "JobId=" not in line:
            continue
        for pattern, event in _LOG_EVENTS:
            match = pattern.search(line)
            if not match:
                continue
            job_id = int(match["raw"]) if match["raw"] else _raw_id(match["spec"])
            info = seen.setdefault(job_id, {"code": None, "signal": False})
            info[event] = True
            if event == "code":
                info["code"] = int(match["code"])
                info["signal"] = match["how"] == "WTERMSIG"
            break
    for job_id, info in seen.items():
        job = jobs.setdefault(job_id, Job(job_id))
        job.sources.add("log")
        if info.get("cancelled"):
            job.state = "CANCELLED"
        elif info.get("timeout"):
            job.state = "TIMEOUT"
        elif info.get("done"):
            job.state = "COMPLETED" if info["code"] == 0 and not info["signal"] else "FAILED"
        elif info.get("started") or info["code"] is not None:
            job.state = "RUNNING"
        else:
            job.state = "PENDING"
        if info["code"] is not None:
            job.exit_code = f"0:{info['code']}" if info["signal"] else f"{info['code']}:0"


# ---------------------------------------------------------------------------------------
# setup and teardown


def _skip(reason: str) -> None:
    pytest.skip(f"SLURM test cluster unavailable: {reason}")


def _tail(text: str, n: int = 2000) -> str:
    return text.strip()[-n:]


def _ensure_packages() -> float:
    """Install SLURM and munge when a command is missing; seconds spent (0 when present)."""
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    if not missing:
        return 0.0
    if shutil.which("apt-get") is None:
        _skip(f"{', '.join(missing)} not installed and there is no apt-get")
    start = time.monotonic()
    # Debian starts services in postinst unless policy-rc.d says no; this harness starts its own.
    policy = POLICY_RC_D
    wrote_policy = False
    if not policy.exists():
        policy.write_text(
            "#!/bin/sh\n# brainlatent tests/slurm_cluster.py: apt-get install\nexit 101\n"
        )
        policy.chmod(0o755)
        wrote_policy = True
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for args, timeout in (
            (["apt-get", "update"], 300),
            (["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES], 600),
        ):
            try:
                result = subprocess.run(
                    args, env=env, capture_output=True, text=True, timeout=timeout
                )
            except subprocess.TimeoutExpired:
                _skip(f"`{' '.join(args)}` took more than {timeout} s")
            if result.returncode != 0:
                _skip(
                    f"`{' '.join(args)}` exited {result.returncode}:\n"
                    f"{_tail(result.stderr or result.stdout)}"
                )
    finally:
        if wrote_policy:
            policy.unlink(missing_ok=True)
    still = [c for c in COMMANDS if shutil.which(c) is None]
    if still:
        _skip(f"apt-get installed {' '.join(PACKAGES)} but {', '.join(still)} still missing")
    return time.monotonic() - start


def _pids(name: str) -> list[int]:
    """Live processes (zombies excluded) whose command name is exactly ``name``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() == name and _alive(int(proc.name)):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _descendants(pids: Sequence[int]) -> list[int]:
    """Every live process below ``pids`` (job scripts under a slurmstepd, say)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(proc.name))
    found, todo = [], list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.append(child)
                todo.append(child)
    return [pid for pid in found if _alive(pid)]


def _harness_owned(pid: int) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(item.startswith(ENV_MARKER.encode() + b"=") for item in environ)


def _kill(pids: Sequence[int], timeout: float = 10) -> list[int]:
    """SIGTERM, wait, SIGKILL; the pids still alive after all that."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            pids = [pid for pid in pids if _alive(pid)]
            if not pids:
                return []
            time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie is dead; its parent just has not reaped it


def _check_no_foreign_cluster() -> None:
    for name in ("slurmctld", "slurmd", "slurmstepd"):
        foreign = [pid for pid in _pids(name) if not _harness_owned(pid)]
        if foreign:
            _skip(
                f"a {name} this harness did not start is running (pid {foreign}); not touching it"
            )
        stale = [pid for pid in _pids(name) if _harness_owned(pid)]
        if stale:  # left by a harness that was killed; we hold the lock, so none is live
            left = _kill(stale + _descendants(stale), timeout=5)
            if left:
                raise SlurmHarnessError(f"could not stop stale {name} {left}")
    for conf in (SLURM_CONF, GRES_CONF):
        if conf.exists() and MARKER not in conf.read_text(errors="replace"):
            _skip(f"{conf} exists and was not written by this harness; not overwriting it")


def _munge_works() -> str:
    """'' when munged answers on its socket, else why not."""
    try:
        result = subprocess.run(["munge", "-n"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "`munge -n` timed out"
    return "" if result.returncode == 0 else _tail(result.stderr, 500) or "`munge -n` failed"


def _start_munge(workdir: Path) -> subprocess.Popen | int | None:
    """Make sure munged runs and answers: the process this call started, the pid of one a
    killed harness left (adopted, to stop at the end), or None (not ours: left alone)."""
    try:
        munge = pwd.getpwnam("munge")
    except KeyError as error:
        raise SlurmHarnessError("the munge package did not create a munge user") from error
    if not MUNGE_KEY.exists():
        MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
        MUNGE_KEY.write_bytes(os.urandom(1024))
        os.chown(MUNGE_KEY, munge.pw_uid, munge.pw_gid)
        MUNGE_KEY.chmod(0o400)
    MUNGE_RUN.mkdir(parents=True, exist_ok=True)
    os.chown(MUNGE_RUN, munge.pw_uid, munge.pw_gid)
    MUNGE_RUN.chmod(0o755)
    running = _pids("munged")
    if running:
        why = _munge_works()
        if why:
            raise SlurmHarnessError(f"munged runs (pid {running}) but does not answer: {why}")
        ours = [pid for pid in running if _harness_owned(pid)]
        return ours[0] if ours else None  # adopt one a killed harness left
    MUNGE_PID.unlink(missing_ok=True)  # stale, from a munged that was killed
    # In the foreground, as our child: we reap it at the end (a daemonized munged would be
    # left to pid 1, which in containers often leaves it a zombie).
    with open(workdir / "log" / "munged.out", "ab") as out:
        proc = subprocess.Popen(
            ["munged", "--foreground"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, ENV_MARKER: str(workdir)},
            user=munge.pw_uid,
            group=munge.pw_gid,
            extra_groups=[],
            start_new_session=True,
        )
    deadline = time.monotonic() + 10
    why = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (workdir / "log" / "munged.out").read_text(errors="replace")
            raise SlurmHarnessError(f"munged exited {proc.returncode}: {_tail(log)}")
        why = _munge_works()
        if not why:
            return proc
        time.sleep(0.1)
    _stop_process(proc, "munged")
    raise SlurmHarnessError(f"munged started but does not answer after 10 s: {why}")


def _stop_process(proc: subprocess.Popen, name: str) -> str:
    """SIGTERM its process group, wait, SIGKILL; '' or what went wrong."""
    if proc.poll() is not None:
        return ""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return ""
        except subprocess.TimeoutExpired:
            continue
    return f"{name} (pid {proc.pid}) survived SIGKILL"


def _plugin_installed(name: str) -> bool:
    """Whether a SLURM plugin (``jobcomp_filetxt``, say) is in one of the usual plugin dirs."""
    dirs = ("/usr/lib/*/slurm-wlm", "/usr/lib/*/slurm", "/usr/lib*/slurm", "/usr/local/lib*/slurm")
    return any(next(Path("/").glob(f"{d.lstrip('/')}/{name}.so"), None) for d in dirs)


def _write_conf(
    workdir: Path,
    node: str,
    cpus: int,
    memory_mb: int,
    partitions: Sequence[str],
    jobcomp: Path | None,
    cluster_name: str,
    extra_conf: Sequence[str] = (),
    gpus: int = 0,
) -> None:
    lines = [
        MARKER,
        f"# for the test cluster in {workdir}; removed when that test ends",
        f"ClusterName={cluster_name}",
        f"SlurmctldHost={node}(127.0.0.1)",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CryptoType=crypto/munge",
        "MpiDefault=none",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SwitchType=switch/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "SchedulerType=sched/backfill",
        f"DefMemPerCPU={max(100, min(1024, memory_mb // max(cpus, 1)))}",
        "MinJobAge=600",
        "ReturnToService=2",
        "SlurmdParameters=config_overrides",
        "KillWait=5",
        "InactiveLimit=0",
        "Waittime=0",
        "MailProg=/bin/true",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        f"StateSaveLocation={workdir / 'state'}",
        f"SlurmdSpoolDir={workdir / 'spool'}",
        f"SlurmctldPidFile={workdir / 'slurmctld.pid'}",
        f"SlurmdPidFile={workdir / 'slurmd.pid'}",
        f"SlurmctldLogFile={workdir / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={workdir / 'log' / 'slurmd.log'}",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
    ]
    if jobcomp is not None:
        lines += ["JobCompType=jobcomp/filetxt", f"JobCompLoc={jobcomp}"]
    if gpus:
        lines.append("GresTypes=gpu")
    lines.append(
        f"NodeName={node} NodeAddr=127.0.0.1 NodeHostname={node} CPUs={cpus} "
        f"RealMemory={memory_mb}{f' Gres=gpu:{gpus}' if gpus else ''} State=UNKNOWN"
    )
    for i, name in enumerate(partitions):
        lines.append(
            f"PartitionName={name} Nodes={node} Default={'YES' if i == 0 else 'NO'} "
            "MaxTime=INFINITE State=UP"
        )
    lines += extra_conf
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(SLURM_CONF, lines)
    if gpus:  # slurmd reports a gpu GRES only with a device file behind it: any will do
        devices = FAKE_GPU_DEVICES[:gpus]
        _write_atomically(
            GRES_CONF, [MARKER, *(f"NodeName={node} Name=gpu File={d}" for d in devices)]
        )
    else:
        _remove_ours(GRES_CONF)


def _write_atomically(path: Path, lines: Sequence[str]) -> None:
    tmp = path.with_name(path.name + ".brainlatent-tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.chmod(0o644)
    tmp.replace(path)


def _remove_ours(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if MARKER in path.read_text(errors="replace"):
            path.unlink()


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise SlurmHarnessError("no MemTotal in /proc/meminfo")


@contextlib.contextmanager
def _lock(timeout: float) -> Iterator[None]:
    with open(LOCK, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    _skip(f"another test cluster held {LOCK} for more than {timeout} s")
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def slurm_cluster(
    workdir: Path,
    *,
    partitions: Sequence[str] = ("debug",),
    cpus: int | None = None,
    memory_mb: int | None = None,
    gpus: int = 0,
    extra_conf: Sequence[str] = (),
    start_timeout: float = 60,
    lock_timeout: float = 900,
) -> Iterator[SlurmCluster]:
    """Start a single-node SLURM cluster with its state in ``workdir``; stop it at exit.

    ``partitions``: the first is the default; all hold the one node. ``cpus`` and
    ``memory_mb`` default to the machine's (memory less some headroom); larger values
    oversubscribe, which SLURM accepts here (``SlurmdParameters=config_overrides``).
    ``gpus``: that many fake ``gpu`` GRES on the node (``/dev/null`` and such behind them),
    so that ``--gres=gpu:1`` jobs are accepted and run (on the CPU).
    ``extra_conf``: more ``slurm.conf`` lines, appended (a later key wins).
    """
    if not 0 <= gpus <= len(FAKE_GPU_DEVICES):
        raise ValueError(f"gpus must be 0 to {len(FAKE_GPU_DEVICES)}, not {gpus}")
    if os.geteuid() != 0:
        _skip(
            "needs root (it apt-gets SLURM where missing, writes /etc/slurm/slurm.conf and "
            "runs slurmctld, slurmd and munged as on a real node)"
        )
    workdir = Path(workdir).resolve()
    for sub in ("state", "spool", "log"):  # a reused workdir starts afresh
        shutil.rmtree(workdir / sub, ignore_errors=True)
        (workdir / sub).mkdir(parents=True)
    (workdir / "jobcomp.txt").unlink(missing_ok=True)
    with _lock(lock_timeout):
        install_s = _ensure_packages()
        _check_no_foreign_cluster()
        total = _memory_mb()
        node = socket.gethostname().split(".")[0]
        jobcomp = workdir / "jobcomp.txt" if _plugin_installed("jobcomp_filetxt") else None
        cluster = SlurmCluster(
            workdir=workdir,
            conf=SLURM_CONF,
            log_dir=workdir / "log",
            state_dir=workdir / "state",
            spool_dir=workdir / "spool",
            node=node,
            cpus=cpus or len(os.sched_getaffinity(0)),
            memory_mb=memory_mb or max(256, min(total - 1024, int(total * 0.9))),
            partitions=tuple(partitions),
            gpus=gpus,
            jobcomp=jobcomp,
            timings={"install_s": install_s},
        )
        munged = None
        wrote_conf = False
        problem: BaseException | None = None
        try:
            start = time.monotonic()
            munged = _start_munge(workdir)
            _write_conf(
                workdir,
                node,
                cluster.cpus,
                cluster.memory_mb,
                cluster.partitions,
                jobcomp,
                "brainlatent",
                extra_conf,
                gpus,
            )
            wrote_conf = True
            _start_daemons(cluster, start_timeout)
            cluster.timings["start_s"] = time.monotonic() - start
            yield cluster
        except BaseException as error:
            problem = error
            raise
        finally:
            leftovers = _stop(cluster, munged, wrote_conf)
            if leftovers and problem is None:
                raise SlurmHarnessError(leftovers)


def _start_daemons(cluster: SlurmCluster, timeout: float) -> None:
    env = {**cluster.env(), ENV_MARKER: str(cluster.workdir)}
    commands = {
        "slurmctld": ["slurmctld", "-D", "-i", "-f", str(cluster.conf)],
        "slurmd": ["slurmd", "-D", "-N", cluster.node, "-f", str(cluster.conf)],
    }
    for name, args in commands.items():
        out = open(cluster.log_dir / f"{name}.out", "ab")  # the daemon inherits it
        try:
            cluster._daemons[name] = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        finally:
            out.close()
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        for name, proc in cluster._daemons.items():
            if proc.poll() is not None:
                raise SlurmHarnessError(
                    f"{name} exited {proc.returncode} while starting:\n{cluster.log_tails()}"
                )
        result = subprocess.run(
            ["sinfo", "-h", "-N", "-n", cluster.node, "-o", "%T"],
            env=cluster.env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        state = _node_state(result.stdout)
        if result.returncode == 0 and state == "idle":
            return
        if any(bad in state for bad in ("inval", "drain", "fail")):  # it will not come back
            reason = cluster.run("sinfo", "-h", "-N", "-n", cluster.node, "-o", "%E", check=False)
            raise SlurmHarnessError(
                f"node {cluster.node} is {state}: {reason.strip()}\n{cluster.log_tails()}"
            )
        time.sleep(0.25)
    raise SlurmHarnessError(
        f"node {cluster.node} not idle after {timeout} s (sinfo: {state!r}):\n{cluster.log_tails()}"
    )


def _stop(cluster: SlurmCluster, munged: subprocess.Popen | int | None, wrote_conf: bool) -> str:
    """Undo everything; a description of what could not be undone ('' when all is well)."""
    problems = []
    ctld = cluster._daemons.get("slurmctld")
    if ctld is not None and ctld.poll() is None:
        with contextlib.suppress(Exception):
            active = cluster.active_jobs()
            if active:
                cluster.run("scancel", *map(str, active), check=False)
                with contextlib.suppress(SlurmHarnessError):
                    cluster.wait_until_drained(timeout=20)
    for name in ("slurmd", "slurmctld"):
        proc = cluster._daemons.get(name)
        if proc is not None:
            problem = _stop_process(proc, name)
            if problem:
                problems.append(problem)
    # job step daemons fork off slurmd and outlive it; they carry our environment marker
    for name in ("slurmstepd", "slurmd", "slurmctld"):
        ours = [pid for pid in _pids(name) if _harness_owned(pid)]
        left = _kill(ours + _descendants(ours), timeout=5) if ours else []
        if left:
            problems.append(f"{name} {left} still running")
    if isinstance(munged, subprocess.Popen):
        problem = _stop_process(munged, "munged")
        if problem:
            problems.append(problem)
    elif munged is not None:
        left = _kill([munged])
        if left:
            problems.append(f"munged {left} still running")
    if wrote_conf:
        for conf in (SLURM_CONF, GRES_CONF):
            _remove_ours(conf)
    return "; ".join(problems)
