"""Linux process handling for `clocher serve`: children that die with the supervisor,
whole process groups stopped, and leftovers of a crashed run found and stopped.

Why: a supervisor killed with SIGKILL (the OOM killer) cannot stop its children. Postfix's
master makes itself a session leader, so it outlives its parent, keeps its lock and its
ports, and the next `clocher serve` could only restart a Postfix that fails at once.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(parent: int) -> None:
    """Run in the child between fork and exec (`Popen(preexec_fn=…)`): the kernel sends it
    SIGTERM when the supervisor dies, however it dies. Kept across exec; cleared only if
    the child changes its credentials (the daemons' masters stay root, their workers
    stop with them)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the supervisor died before the prctl took effect
        os._exit(1)


@dataclass(frozen=True)
class Proc:
    pid: int
    pgid: int
    start: int  # clock ticks since boot: a pid reused by another process has another one


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, pgid, start time) from /proc/PID/stat, None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces and ')'
    return fields[0], int(fields[2]), int(fields[19])


def find(pid: int) -> Proc | None:
    stat = _stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return None
    return Proc(pid, stat[1], stat[2])


def alive(proc: Proc) -> bool:
    """Still this very process (same start time), not a pid the kernel gave again."""
    now = find(proc.pid)
    return now is not None and now.start == proc.start


def executable(pid: int) -> str:
    try:
        return os.path.realpath(f"/proc/{pid}/exe")
    except OSError:
        return ""


def group_members(pgid: int, since: int = 0) -> list[int]:
    """Live processes of a process group (a daemon and the workers it forked), started
    at or after `since` (the leader's start: older ones belong to another group that once
    had this number)."""
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and stat[1] == pgid and stat[0] not in ("Z", "X") and stat[2] >= since:
                members.append(int(entry.name))
    return members


def boot_id() -> str:
    """Pids and start times mean nothing across a reboot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _own_group(proc: Proc) -> bool:
    """It leads its own group, which is not ours (nor the kernel's, pgid 0, nor init's)."""
    return proc.pgid == proc.pid and proc.pgid > 1 and proc.pgid != os.getpgrp()


def _orphaned_group(proc: Proc) -> bool:
    """Its leader is gone (SIGKILLed with the supervisor, say) but workers remain — unless
    the kernel gave the leader's pid to a new process, which then leads that group."""
    return find(proc.pid) is None and bool(group_members(proc.pgid, proc.start))


def remains(proc: Proc) -> bool:
    """Something of it still runs: the process itself, or the group it led."""
    return alive(proc) or (_own_group(proc) and _orphaned_group(proc))


def _signal(proc: Proc, signum: int, whole_group: bool) -> None:
    try:
        if whole_group:
            os.killpg(proc.pgid, signum)
        elif alive(proc):
            os.kill(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _gone(proc: Proc, whole_group: bool) -> bool:
    return not group_members(proc.pgid, proc.start) if whole_group else not alive(proc)


def stop(proc: Proc, grace: float = 30.0) -> bool:
    """SIGTERM (the daemon's clean stop: Postfix's master and Dovecot stop their workers),
    then SIGKILL after `grace` seconds; waits until nothing of it is left.

    The whole group is signalled only when the process leads its own group (the
    supervisor starts each child so), never a group shared with others — ours included.
    Returns False if something survived SIGKILL (uninterruptible sleep)."""
    whole_group = _own_group(proc)
    if whole_group and not alive(proc):
        whole_group = _orphaned_group(proc)
    for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if _gone(proc, whole_group):
            return True
        _signal(proc, signum, whole_group)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _gone(proc, whole_group):
                return True
            time.sleep(0.1)
    return _gone(proc, whole_group)
