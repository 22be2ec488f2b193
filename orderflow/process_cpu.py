"""CPU time of the stack's processes, read from their own counters (``/proc/<pid>/stat``).

A benchmark reads the counters before and after a phase; the difference, less what each
process burns idle, divided by the workflows of the phase, is CPU ms per workflow by process.
Wall-clock rates move with the machine's mood; the CPU a piece of work costs moves much less.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orderflow.stack import LocalStack

# The stack's children by the role a report names them with.
ROLES = {
    "Temporal dev server": "temporal",
    "orders worker": "worker",
    "skeleton worker": "worker",
    "API": "api",
    "localstripe": "payment_fake",
    "sandbox carrier": "carrier",
    "mail sink": "mail",
}
CLIENT = "client"  # this process: the shoppers, the carrier's reports, the result polling
# What the targets count: orderflow's own processes and the Temporal server; the payment
# fake and the carrier stand in for outside services, the client for the customers.
OWN = ("temporal", "worker", "api")
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, all its threads, so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name, which may itself hold spaces: utime and stime are 14, 15.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


@dataclass(frozen=True)
class Reading:
    at: float  # monotonic seconds
    seconds: Mapping[str, float]  # CPU seconds so far, by role


@dataclass(frozen=True)
class Cost:
    """What one phase cost per workflow: CPU ms by role, and the part the targets count."""

    cpu_ms: dict[str, float]
    own_cpu_ms: float

    @classmethod
    def of(cls, spent: Mapping[str, float], workflows: int) -> Cost:
        """From the CPU seconds by role that ``workflows`` workflows took."""
        cpu_ms = {role: round(seconds * 1000 / workflows, 1) for role, seconds in spent.items()}
        return cls(cpu_ms, round(sum(cpu_ms.get(role, 0.0) for role in OWN), 1))


class CpuMeter:
    """Reads every child of a running stack, and this process, by role."""

    def __init__(self, stack: LocalStack) -> None:
        self.pids: dict[str, list[int]] = {}
        for child in stack.children:
            if child.process is not None and child.name in ROLES:
                self.pids.setdefault(ROLES[child.name], []).append(child.process.pid)
        self.idle_per_second: dict[str, float] = {}

    def read(self) -> Reading:
        seconds = {role: sum(cpu_seconds(pid) for pid in pids) for role, pids in self.pids.items()}
        seconds[CLIENT] = time.process_time()
        return Reading(time.monotonic(), seconds)

    def measure_idle(self, seconds: float = 3.0) -> None:
        """What each process burns doing nothing (pollers, the server's housekeeping), to
        subtract from every phase."""
        before = self.read()
        time.sleep(seconds)
        after = self.read()
        elapsed = after.at - before.at
        self.idle_per_second = {
            role: (after.seconds[role] - before.seconds[role]) / elapsed
            for role in before.seconds
            if role != CLIENT
        }

    def spent(self, before: Reading, after: Reading) -> dict[str, float]:
        """CPU seconds by role between two readings, less what each burns idle."""
        elapsed = after.at - before.at
        return {
            role: max(
                0.0,
                after.seconds[role]
                - before.seconds[role]
                - self.idle_per_second.get(role, 0.0) * elapsed,
            )
            for role in before.seconds
        }

    def cost(self, before: Reading, after: Reading, workflows: int) -> Cost:
        return Cost.of(self.spent(before, after), workflows)


def add(*costs: Cost) -> Cost:
    """The cost of phases run one after another on the same workflows."""
    roles = {role for cost in costs for role in cost.cpu_ms}
    cpu_ms = {role: round(sum(c.cpu_ms.get(role, 0.0) for c in costs), 1) for role in roles}
    return Cost(dict(sorted(cpu_ms.items())), round(sum(c.own_cpu_ms for c in costs), 1))
