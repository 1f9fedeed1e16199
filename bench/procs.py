"""Process plumbing for the benchmark: free loopback ports, servers in their own session,
readiness, and CPU accounting from /proc (the machine is shared, so every cell records how much
CPU went to the server, to wrk and to everything else while it ran)."""

from __future__ import annotations

import contextlib
import http.client
import os
import resource
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
_TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_status(port: int, method: str, path: str, body: bytes | None = None) -> int | None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


@dataclass
class Server:
    """A server process started in a new session, so that it and its uvicorn workers can be
    stopped together by process-group id."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @classmethod
    def start(
        cls,
        name: str,
        cmd: list[str],
        env: dict[str, str],
        port: int,
        log: Path,
        ready: tuple[str, str, bytes | None],
        timeout: float = 90.0,
    ) -> Server:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        server = cls(name, proc, port, log)
        method, path, body = ready
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{server.tail()}")
            if http_status(port, method, path, body) == 200:
                # Other workers may still be importing; give them a moment to start accepting.
                time.sleep(1.5)
                return server
            time.sleep(0.25)
        server.stop()
        raise RuntimeError(f"{name} not ready after {timeout:.0f} s:\n{server.tail()}")

    def tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def cpu_seconds(self) -> float:
        return session_cpu_seconds(self.proc.pid)

    def system_cpu_seconds(self) -> float:
        return session_cpu_seconds(self.proc.pid, system_only=True)

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # Workers are reaped by the uvicorn supervisor; make sure none outlived it.
        deadline = time.monotonic() + 10
        while _session_pids(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            if _session_pids(self.proc.pid):
                os.killpg(self.proc.pid, signal.SIGKILL)


def _stat_fields(pid: str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; everything after its ')' is fixed.
    return raw[raw.rindex(")") + 2 :].split()


def _session_pids(sid: int) -> list[str]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            # fields[0] is field 3 (state); the session id is field 6.
            if fields is not None and fields[3] == str(sid) and fields[0] != "Z":
                pids.append(entry)
    return pids


def session_cpu_seconds(sid: int, system_only: bool = False) -> float:
    """User + system CPU of every live process in the session (the server and its workers);
    with `system_only`, the system (kernel) part alone."""
    ticks = 0
    for pid in _session_pids(sid):
        fields = _stat_fields(pid)
        if fields is not None:
            user, system = int(fields[11]), int(fields[12])  # utime, stime (fields 14, 15)
            ticks += system if system_only else user + system
    return ticks / _TICK


def machine_busy_seconds() -> float:
    """CPU seconds spent not idle, summed over all cores, since boot."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / _TICK


def own_cpu_seconds() -> tuple[float, float]:
    """(this process, its waited-for children such as wrk)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime
