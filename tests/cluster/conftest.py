"""A real one-node SLURM for the `slurm` tests, started once per session by cluster/local-slurm.sh.

Everything the session starts lives under one short temporary folder: SLURM's config, spool,
logs and munge socket, the jobs' working folder and output files, and every Ray temp dir (Ray
puts Unix sockets there: paths are limited to 107 bytes). Teardown cancels the jobs, stops
slurmd, slurmctld and munged, and fails if any process that mentions the folder survived.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCAL_SLURM = REPO / "cluster" / "local-slurm.sh"
# The sbatch scripts get the venv running these tests (MHEIGHT_VENV), as a user would set it.
VENV = Path(sys.executable).parent.parent
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                "PREEMPTED", "BOOT_FAIL", "DEADLINE"}  # fmt: skip
# Minutes: SLURM itself ends a job that hangs, whatever the test does. Above 5, or
# train.sbatch's --signal=B:USR1@300 (the time-limit warning) would come at once.
JOB_TIME_LIMIT = "8"


def processes_mentioning(text: str) -> dict[int, str]:
    """pid -> command line of every live process whose command line contains ``text``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found[int(entry.name)] = cmdline.strip()
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run(argv: list, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, env=env)  # fmt: skip


class Slurm:
    """Submit, watch and cancel jobs on the local cluster, with the environment the jobs need."""

    venv = VENV
    processes_mentioning = staticmethod(processes_mentioning)
    run = staticmethod(run)

    def __init__(self, state: Path):
        self.state = state
        self.work = state / "work"  # jobs run here and write their %x-%j.out files here
        self.work.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "RAY_"))}
        env.update(
            SLURM_CONF=str(state / "slurm.conf"),
            MHEIGHT_VENV=str(VENV),
            MHEIGHT_RAY_TMPDIR=str(state / "ray"),
            RAY_AUTH_MODE="disabled",
        )
        self.env = env

    def sbatch(self, script: str, args: list, options: list = (), env: dict | None = None) -> str:
        """Submit cluster/<script> with mh-* ``args``; return the job id."""
        proc = run(
            ["sbatch", "--parsable", f"--chdir={self.work}", f"--time={JOB_TIME_LIMIT}",
             *options, REPO / "cluster" / script, *args],
            timeout=30, env={**self.env, **(env or {})},
        )  # fmt: skip
        assert proc.returncode == 0, f"sbatch failed: {proc.stderr}"
        return proc.stdout.strip().split(";")[0]

    def submit(self, kind: str, options: list, args: list) -> str:
        """Submit through the cluster/submit helper; return the job id it reports."""
        proc = run([REPO / "cluster" / "submit", kind, f"--chdir={self.work}",
                    f"--time={JOB_TIME_LIMIT}", *options, "--", *args],
                   timeout=60, env=self.env)  # fmt: skip
        found = re.search(r"^submitted job (\d+);", proc.stdout, re.MULTILINE)
        assert proc.returncode == 0 and found, f"cluster/submit failed:\n{proc.stdout}{proc.stderr}"
        return found.group(1)

    def job(self, job_id: str) -> dict[str, str]:
        """scontrol's fields of the job (JobState, ExitCode, ...); SLURM keeps ended jobs 300 s."""
        proc = run(["scontrol", "show", "job", "--oneliner", job_id], timeout=30, env=self.env)
        assert proc.returncode == 0, f"scontrol show job {job_id}: {proc.stderr}"
        return dict(re.findall(r"(\w+)=(\S*)", proc.stdout))

    def output(self, job_id: str) -> str:
        path = Path(self.job(job_id)["StdOut"])
        return path.read_text(errors="replace") if path.exists() else f"(no {path})"

    def wait(self, job_id: str, timeout: float, states=FINAL_STATES) -> dict[str, str]:
        """Poll until the job reaches one of ``states``; on time-out cancel it and fail."""
        deadline = time.monotonic() + timeout
        while (info := self.job(job_id))["JobState"] not in states:
            if time.monotonic() > deadline:
                self.scancel(job_id)
                pytest.fail(f"job {job_id} still {info['JobState']} ({info['Reason']}) after "
                            f"{timeout:.0f} s:\n{self.output(job_id)}")  # fmt: skip
            time.sleep(0.5)
        return info

    def completed(self, job_id: str, timeout: float) -> str:
        """Wait for the job, require it COMPLETED with exit code 0, return its output."""
        info = self.wait(job_id, timeout)
        output = self.output(job_id)
        assert (info["JobState"], info["ExitCode"]) == ("COMPLETED", "0:0"), output
        return output

    def scancel(self, job_id: str, *options: str) -> None:
        proc = run(["scancel", *options, job_id], timeout=30, env=self.env)
        assert proc.returncode == 0, f"scancel {job_id}: {proc.stderr}"


@pytest.fixture(scope="session")
def slurm():
    """The local one-node SLURM: installed (apt-get) if needed, up for the session, then down."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("a local SLURM needs root on Linux (slurmd starts jobs as their owner)")
    for tool in ("mh-gen", "mh-split", "mh-train"):
        if not (VENV / "bin" / tool).exists():
            pytest.skip(f"{tool} is not installed in {VENV} (pip install -e .)")
    if not (shutil.which("slurmctld") and shutil.which("munged")):
        if not shutil.which("apt-get"):
            pytest.skip("slurm-wlm and munge are not installed and there is no apt-get")
        proc = run(["bash", LOCAL_SLURM, "install"], timeout=600)
        if proc.returncode != 0:
            pytest.skip(f"apt-get could not install slurm-wlm and munge: {proc.stderr[-500:]}")
    state = Path(tempfile.mkdtemp(prefix="mhs-", dir="/tmp"))
    try:
        proc = run(["bash", LOCAL_SLURM, "up", state], timeout=120)
        if proc.returncode != 0:
            logs = "".join(f"\n== {p}\n{p.read_text()[-2000:]}" for p in state.glob("*/*.log"))
            pytest.fail(f"local SLURM did not start: {proc.stderr}{logs}")
        yield Slurm(state)
    finally:
        daemons = {int(p.read_text()) for p in state.glob("*/*.pid") if p.read_text().strip()}
        down = run(["bash", LOCAL_SLURM, "down", state], timeout=120)
        leftovers = processes_mentioning(str(state))
        leftovers.update({pid: "a SLURM or munge daemon" for pid in daemons if alive(pid)})
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(state, ignore_errors=True)
        assert down.returncode == 0, f"local-slurm.sh down failed: {down.stderr}"
        assert not leftovers, f"processes left running after teardown: {leftovers}"
