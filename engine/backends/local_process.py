"""The game's side of the embedded model's process: start it, talk to it, survive it.

One :class:`ModelHost` per model configuration (file, context size, threads, buffer choice)
per game process, shared by every :class:`~engine.backends.local.LocalBackend` on it. The host
owns at most one worker process (:mod:`engine.backends.llama_worker`) at a time:

- Jobs and cancels go out through a sender thread (the event loop never blocks on a full
  socket); replies come back on a reader thread that hands each one to the waiting call's
  event loop with ``call_soon_threadsafe``.
- A worker that dies (any signal, any exit) fails every call in flight with
  :class:`~engine.errors.BackendError`; the next call starts a new one. Restarts back off
  (:data:`RESTART_DELAYS`); after :data:`MAX_CRASHES` crashes in a row, with no reply in
  between, the host is ``unavailable`` and says why instead of crash-looping.
- A worker that sends nothing for a call's stall timeout while it has work is killed (the
  call fails with :class:`~engine.errors.BackendTimeoutError`) and replaced.
- A GGUF that does not load gives :class:`~engine.errors.BackendUnavailableError` naming
  the file, and is not retried until the file changes.
- Workers stop when their last backend is closed or collected, at interpreter exit, and by
  themselves when the game process dies.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.errors import BackendError, BackendTimeoutError, BackendUnavailableError

__all__ = [
    "MAX_CRASHES",
    "RESTART_DELAYS",
    "LocalStatus",
    "ModelHost",
    "Pending",
    "WorkerConfig",
    "hold",
    "host_for",
    "raise_failure",
]

log = logging.getLogger("engine.backends.local")
_native_log = logging.getLogger("engine.backends.local.llama_cpp")
_worker_log = logging.getLogger("engine.backends.local.worker")

_PROVIDER = "local"
_WORKER_SCRIPT = Path(__file__).with_name("llama_worker.py")

#: Wait before the n-th restart after a crash (seconds); the first restart is immediate.
RESTART_DELAYS = (0.0, 1.0, 4.0)
#: Crashes in a row (no reply in between) after which the model is reported unavailable.
MAX_CRASHES = len(RESTART_DELAYS) + 1


class LocalStatus(BaseModel):
    """What the embedded model's process is doing, for a status line or a health check."""

    state: Literal["stopped", "starting", "ready", "unavailable"] = Field(
        "stopped",
        description="stopped: no process (starts on the next call); unavailable: the model "
        "crashed repeatedly or does not load, and calls fail at once with the reason.",
    )
    reason: str = Field("", description="Why the model is unavailable, or what last went wrong.")
    pid: int | None = Field(None, description="The worker process, while one runs.")
    crashes: int = Field(0, description="Crashes in a row since the last reply.")
    restarts: int = Field(0, description="Workers started after a crash, in this game process.")
    amx: bool | None = Field(None, description="llama.cpp's CPU backend was built with AMX.")
    extra_buffers: bool | None = Field(
        None, description="Weight repacking (llama.cpp's extra buffer types) is in use."
    )


@dataclass(frozen=True)
class WorkerConfig:
    """One worker's model: the file and the load parameters (its key among hosts)."""

    path: Path
    n_ctx: int
    n_threads: int
    extra_buffers: bool | None
    sequences: int = 1
    """Replies the model may decode side by side (``several`` jobs)."""


class Pending:
    """One call waiting on the worker: messages go to its event loop's queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stall_timeout: float) -> None:
        self.id = next(_ids)
        self.loop = loop
        self.queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self.stall_timeout = stall_timeout

    def deliver(self, message: tuple[Any, ...]) -> None:
        """Called on the reader thread."""
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening
            self.loop.call_soon_threadsafe(self.queue.put_nowait, message)


_ids = itertools.count(1)
_FINAL = frozenset({"done", "json", "error", "failed"})


class _Process:
    """One worker process with its reader and sender threads."""

    def __init__(self, host: ModelHost) -> None:
        self.host = host
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None
        self.outbox: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self.started = threading.Event()
        self.ready = threading.Event()
        self.start_error: BaseException | None = None
        self.load_error: str | None = None
        self.info: dict[str, Any] = {}
        self.pending: dict[int, Pending] = {}
        self.last_message = time.monotonic()
        self.stalled: str | None = None
        self.stopping = False
        self.stderr_tail: deque[str] = deque(maxlen=20)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        # The reader thread starts the process and lives exactly as long as it: Linux's
        # PR_SET_PDEATHSIG fires when the *thread* that started a child ends.
        threading.Thread(target=self._run, name="llama-worker-reader", daemon=True).start()
        self.started.wait()
        if self.start_error is not None:
            raise BackendUnavailableError(
                f"could not start the model process: {self.start_error}",
                provider=_PROVIDER,
                model=self.host.config.path.name,
            ) from self.start_error

    def _spawn(self) -> socket.socket:
        ours, theirs = socket.socketpair()
        config = self.host.config
        payload = json.dumps(
            {
                "path": str(config.path),
                "n_ctx": config.n_ctx,
                "n_threads": config.n_threads,
                "extra_buffers": config.extra_buffers,
                "sequences": config.sequences,
            }
        )
        try:
            # -P: the script's folder (engine/backends) must not shadow top-level modules.
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-P",
                    str(_WORKER_SCRIPT),
                    str(theirs.fileno()),
                    str(os.getpid()),
                    payload,
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                close_fds=True,
                start_new_session=True,  # a terminal's Ctrl+C reaches the game, not the model
            )
        finally:
            theirs.close()
        return ours

    def _run(self) -> None:
        try:
            sock = self._spawn()
        except BaseException as exc:  # noqa: BLE001 (reported to the caller of start())
            self.start_error = exc
            self.started.set()
            self.ready.set()  # others waiting on this start see it failed
            return
        assert self.proc is not None and self.proc.stderr is not None
        self.conn = Connection(os.dup(sock.fileno()))
        sock.close()
        sender = threading.Thread(target=self._send_loop, name="llama-worker-sender", daemon=True)
        sender.start()
        self.started.set()
        stderr = self.proc.stderr
        try:
            self._read_loop(self.conn, stderr)
        finally:
            self.outbox.put(None)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            if self.proc.returncode is None:
                self.proc.kill()
                self.proc.wait()
            self._drain_stderr(stderr)
            stderr.close()
            sender.join(timeout=5)
            with contextlib.suppress(OSError):
                self.conn.close()
            self.host.exited(self, self.proc.returncode)
            self.ready.set()  # wake anyone still waiting for a load that will not come

    def _read_loop(self, conn: Connection, stderr: Any) -> None:
        sources: list[Any] = [conn, stderr]
        while True:
            ready = wait(sources, timeout=self._poll_timeout())
            if not ready:
                self._check_stall()
                continue
            if stderr in ready and not self._read_stderr(stderr):
                sources.remove(stderr)
            if conn in ready:
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    return
                self.last_message = time.monotonic()
                self._dispatch(message)

    def _poll_timeout(self) -> float:
        if not self.pending:
            return 1.0
        return max(0.05, min(p.stall_timeout for p in list(self.pending.values())) / 4)

    def _check_stall(self) -> None:
        waiting = list(self.pending.values())
        if not waiting or self.stalled is not None:
            return
        limit = min(p.stall_timeout for p in waiting)
        silent = time.monotonic() - self.last_message
        if silent > limit:
            self.stalled = f"sent nothing for {silent:.1f} s (stall timeout {limit:g} s)"
            log.error("the model process %s %s; killing it", self.pid, self.stalled)
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)

    def _read_stderr(self, stderr: Any) -> bool:
        data = os.read(stderr.fileno(), 65536)
        if not data:
            return False
        for line in data.decode("utf-8", "replace").splitlines():
            if line.strip():
                self.stderr_tail.append(line)
                _worker_log.warning("pid %s: %s", self.pid, line)
        return True

    def _drain_stderr(self, stderr: Any) -> None:
        os.set_blocking(stderr.fileno(), False)
        with contextlib.suppress(OSError, TypeError):
            while self._read_stderr(stderr):
                pass

    def _dispatch(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "alive":
            return  # a token of a JSON reply: it only resets the stall clock
        if kind == "log":
            _native_log.log(message[1], "%s", message[2])
        elif kind == "ready":
            self.info = message[1]
            log.info(
                "model process %s ready: %s (%s model, weight repacking %s%s)",
                self.pid,
                self.host.config.path.name,
                "chat" if self.info.get("has_template") else "base",
                "on" if self.info.get("extra_buffers") else "off",
                ", AMX build" if self.info.get("amx") else "",
            )
            self.ready.set()
        elif kind == "load_error":
            self.load_error = message[1]
            self.ready.set()
        else:
            if kind in _FINAL and kind != "error":
                # a job the worker finished, whether or not its caller still listens
                self.host.replied()
            pending = self.pending.get(message[1])
            if pending is None:
                return
            if kind in _FINAL:
                self.pending.pop(message[1], None)
            elif kind in ("token", "piece"):
                message = (*message, time.monotonic())  # arrival in this process
            pending.deliver(message)

    def _send_loop(self) -> None:
        assert self.conn is not None
        while True:
            message = self.outbox.get()
            if message is None:
                break
            try:
                self.conn.send(message)
            except (OSError, ValueError):
                break
        # Closing our writing side is the worker's signal to leave.
        with contextlib.suppress(OSError):
            socket.socket(fileno=os.dup(self.conn.fileno())).shutdown(socket.SHUT_WR)

    def submit(self, pending: Pending, spec: dict[str, Any]) -> None:
        if not self.pending:
            self.last_message = time.monotonic()  # silence counts from here, not from idle time
        self.pending[pending.id] = pending
        self.outbox.put(("job", pending.id, spec))

    def cancel(self, pending: Pending) -> None:
        if self.pending.pop(pending.id, None) is not None:
            self.outbox.put(("cancel", pending.id))

    def drop(self, pending: Pending, index: int) -> None:
        if pending.id in self.pending:
            self.outbox.put(("drop", pending.id, index))

    def stop(self) -> None:
        """Ask the worker to leave (its socket closes); kill it if it has not within a second."""
        self.stopping = True
        self.outbox.put(None)
        proc = self.proc
        if proc is None:
            return

        def reap() -> None:
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                proc.kill()

        try:
            threading.Thread(target=reap, name="llama-worker-stop", daemon=True).start()
        except RuntimeError:  # interpreter shutdown: no new threads; the worker holds no data
            proc.kill()


def _signal_name(returncode: int | None) -> str:
    if returncode is None:
        return "ended"
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
        return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _file_signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


class ModelHost:
    """The worker process for one model configuration, restarted as needed."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._process: _Process | None = None
        self._users = 0
        self._crashes = 0
        self._restarts = 0
        self._next_start = 0.0
        self._reason = ""
        self._unavailable: str | None = None
        self._load_failure: tuple[tuple[int, int] | None, str] | None = None
        self._info: dict[str, Any] = {}

    @property
    def info(self) -> dict[str, Any]:
        """What the worker reported once loaded: has_template, amx, extra_buffers, pid."""
        return self._info

    def status(self) -> LocalStatus:
        """A snapshot for status lines; never blocks on the worker."""
        process = self._process
        failure = self._load_failure
        if failure is not None and failure[0] == _file_signature(self.config.path):
            unavailable: str | None = failure[1]
        else:
            unavailable = self._unavailable
        if unavailable is not None:
            state: Literal["stopped", "starting", "ready", "unavailable"] = "unavailable"
        elif process is None:
            state = "stopped"
        else:
            state = "ready" if process.ready.is_set() and process.info else "starting"
        return LocalStatus(
            state=state,
            reason=unavailable or self._reason,
            pid=process.pid if process is not None else None,
            crashes=self._crashes,
            restarts=self._restarts,
            amx=self._info.get("amx"),
            extra_buffers=self._info.get("extra_buffers"),
        )

    # -- users -----------------------------------------------------------------------------

    def retain(self) -> None:
        with self._lock:
            self._users += 1

    def release(self) -> None:
        """One backend is done with the model; the last one stops the worker."""
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users or self._process is None:
                return
            process, self._process = self._process, None
        log.info("stopping the model process %s (no backend uses it)", process.pid)
        process.stop()

    def stop(self) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is not None:
            process.stop()

    # -- starting --------------------------------------------------------------------------

    def ready_process(self) -> _Process | None:
        """The loaded worker if there is one, without blocking."""
        process = self._process
        if process is not None and process.ready.is_set() and process.info:
            return process
        return None

    def acquire(self, load_timeout: float) -> _Process:
        """A loaded worker, starting one if needed (blocking: call from a worker thread)."""
        while True:
            with self._lock:
                self._raise_if_unavailable()
                process = self._process
                wait_s = self._next_start - time.monotonic()
                starting = process is None and wait_s <= 0
                if starting:
                    process = self._process = _Process(self)
            if process is not None and starting:
                # Outside the lock: a call on the event loop never waits for a fork.
                try:
                    process.start()
                except BackendUnavailableError:
                    with self._lock:
                        if self._process is process:
                            self._process = None
                    raise
            if process is None:
                time.sleep(min(wait_s, 0.5))
                continue
            if not process.ready.wait(load_timeout):
                process.stalled = f"did not finish within {load_timeout:g} s"
                pid = process.pid
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                process.ready.wait(10)
            if process.start_error is not None:
                raise BackendUnavailableError(
                    f"could not start the model process: {process.start_error}",
                    provider=_PROVIDER,
                    model=self.config.path.name,
                )
            if process.load_error is not None:
                message = f"could not load {self.config.path}: {process.load_error}"
                with self._lock:
                    # Recorded here as well as when the process exits, so a status read
                    # right after this error already says why, and names no process (the
                    # worker that failed to load is on its way out).
                    self._load_failure = (_file_signature(self.config.path), message)
                    if self._process is process:
                        self._process = None
                raise BackendUnavailableError(
                    message, provider=_PROVIDER, model=self.config.path.name
                )
            if process.info:
                self._info = process.info
                return process
            # The worker died before it was ready; exited() has recorded the crash.
            with self._lock:
                self._raise_if_unavailable()
                reason = self._reason
            raise BackendError(reason, provider=_PROVIDER, model=self.config.path.name)

    def _raise_if_unavailable(self) -> None:
        if self._unavailable is not None:
            raise BackendUnavailableError(
                self._unavailable, provider=_PROVIDER, model=self.config.path.name
            )
        if self._load_failure is not None:
            signature, message = self._load_failure
            if signature == _file_signature(self.config.path):
                raise BackendUnavailableError(
                    message, provider=_PROVIDER, model=self.config.path.name
                )
            self._load_failure = None  # the file changed: try again

    # -- events from the reader thread -----------------------------------------------------

    def replied(self) -> None:
        if self._crashes:
            self._crashes = 0
            self._next_start = 0.0

    def exited(self, process: _Process, returncode: int | None) -> None:
        """The worker is gone: fail its calls, and record a crash unless it was asked to stop."""
        with self._lock:
            if self._process is process:
                self._process = None
            message = self._exit_message(process, returncode)
        for pending in list(process.pending.values()):
            error_type = "stalled" if process.stalled is not None else "crashed"
            pending.deliver(("failed", pending.id, error_type, message))
        process.pending.clear()

    def _exit_message(self, process: _Process, returncode: int | None) -> str:
        path = self.config.path
        if process.load_error is not None:
            message = f"could not load {path}: {process.load_error}"
            self._load_failure = (_file_signature(path), message)
            log.error("%s", message)
            return message
        if process.stopping and process.stalled is None:
            return "the model process was stopped"
        cause = process.stalled or _signal_name(returncode)
        when = "during generation" if process.info else f"while loading {path}"
        message = f"the model process (pid {process.pid}) {cause} {when}"
        self._crashes += 1
        self._reason = message
        if self._crashes >= MAX_CRASHES:
            self._unavailable = (
                f"the embedded model is unavailable: its process failed {self._crashes} times "
                f"in a row (last: {cause}); see the log for details"
            )
            log.error("%s", self._unavailable)
        else:
            self._restarts += 1
            self._next_start = time.monotonic() + RESTART_DELAYS[self._crashes - 1]
            log.error(
                "%s; restarting in %.0f s%s",
                message,
                RESTART_DELAYS[self._crashes - 1],
                (": " + " | ".join(process.stderr_tail)[-600:]) if process.stderr_tail else "",
            )
        return message

    # -- calls -----------------------------------------------------------------------------

    def submit(self, process: _Process, pending: Pending, spec: dict[str, Any]) -> None:
        """Queue a job; if the worker already died, the call fails at once."""
        with self._lock:
            alive = self._process is process
            if alive:
                process.submit(pending, spec)
        if not alive:
            pending.deliver(
                ("failed", pending.id, "crashed", self._reason or "the model process ended")
            )

    def cancel(self, process: _Process, pending: Pending) -> None:
        process.cancel(pending)

    def drop(self, process: _Process, pending: Pending, index: int) -> None:
        """Stop one reply of a ``several`` job; the others go on."""
        process.drop(pending, index)


def raise_failure(config: WorkerConfig, message: tuple[Any, ...]) -> None:
    """Turn a ``failed`` or ``error`` message into the engine's exception."""
    model = config.path.name
    if message[0] == "error":
        raise BackendError(
            f"local generation failed: {message[2]}", provider=_PROVIDER, model=model
        )
    _, _, kind, text = message
    if kind == "stalled":
        raise BackendTimeoutError(text, provider=_PROVIDER, model=model)
    raise BackendError(text, provider=_PROVIDER, model=model)


_hosts: dict[WorkerConfig, ModelHost] = {}
_hosts_lock = threading.Lock()


def host_for(config: WorkerConfig) -> ModelHost:
    """The process-wide host for a configuration."""
    with _hosts_lock:
        host = _hosts.get(config)
        if host is None:
            host = _hosts[config] = ModelHost(config)
        return host


@atexit.register
def _stop_all() -> None:
    with _hosts_lock:
        hosts = list(_hosts.values())
    processes = [h._process for h in hosts]
    for host in hosts:
        host.stop()
    deadline = time.monotonic() + 1.0
    for process in processes:
        if process is None or process.proc is None:
            continue
        try:
            process.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.proc.kill()


def hold(owner: object, host: ModelHost) -> Callable[[], Any]:
    """Count ``owner`` as a user of ``host`` until the returned function is called or ``owner``
    is garbage-collected, whichever comes first."""
    host.retain()
    return weakref.finalize(owner, host.release)
