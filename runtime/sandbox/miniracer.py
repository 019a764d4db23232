"""The V8 sandbox on mini-racer: the ONLY module that imports ``py_mini_racer``.

mini-racer's public calls cannot serve a *blocking* ``lib.get``: a wrapped Python
function is async from JavaScript's view. So this module reaches into three
internals, each pinned by ``tests/sandbox/test_miniracer_contract.py``:

* ``Context`` built around our own ``mr_init_context`` callback, so that calls
  carrying :data:`BRIDGE_CALLBACK_ID` are served synchronously on the isolate's
  thread while every other callback goes to mini-racer as usual;
* ``mr_make_js_callback`` with that id: a JavaScript function that calls Python
  and waits for it to return;
* a ``SharedArrayBuffer`` seen from Python as a ``memoryview`` onto V8 memory,
  which carries requests and answers (``runtime/bridge.py``).

Entering V8 from Python costs about 400 µs, so each isolate runs one resident
evaluation (``jslibs/bridge.js``) that pulls its next event through the bridge
instead of being entered once per run. The thread that waits for a run is the
run's watchdog: past the deadline it cancels the evaluation, which terminates
the script; the isolate is then thrown away.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import gc
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from py_mini_racer import JSOOMException, JSParseException, MiniRacer
from py_mini_racer._context import Context, ContextType
from py_mini_racer._dll import init_mini_racer, mr_callback_func
from py_mini_racer._mini_racer import _running_event_loop
from py_mini_racer._objects import ObjectFactoryImpl

from runtime import jslibs
from runtime.bridge import DEFAULT_BUFFER_BYTES, BridgeEndpoint, DeferredQueue
from runtime.exceptions import HostCallError, SandboxError
from runtime.sandbox.base import (
    Job,
    JsError,
    Limits,
    ModuleSource,
    Outcome,
    RunStatus,
    Sandbox,
)

#: Callback id of the synchronous bridge; mini-racer counts its own ids up from 1.
BRIDGE_CALLBACK_ID = 2**64 - 1

#: The whole request of bridge.js's loop after a run that ended well (see bridge.js).
NEXT_AFTER_OK = "\x01"
_OK_RESULT = {"ok": True}
_OK_OUTCOME = Outcome(RunStatus.OK)

_WATCH_INTERVAL_S = 0.05
DEFAULT_QUEUE_BYTES = 4 << 20
_STOP = object()


@contextmanager
def bridged_context(on_bridge_call: Callable[[], None]) -> Generator[Any, None, None]:
    """Make a mini-racer ``Context`` whose bridge calls run ``on_bridge_call`` in place.

    ``on_bridge_call`` runs on the isolate's thread while the script waits; it must
    not raise and must not call into this context (that would wait forever).
    """
    dll = init_mini_racer(ignore_duplicate_init=True)
    context: Any = None

    @mr_callback_func  # type: ignore[arg-type]
    def on_callback(callback_id: int, raw_value: Any) -> None:
        if callback_id == BRIDGE_CALLBACK_ID:
            dll.mr_free_value(handle, raw_value)
            on_bridge_call()
            return
        try:
            context.handle_callback_from_v8(callback_id, raw_value)
        except RuntimeError:
            pass  # the late answer of an evaluation cancelled while its loop was closing

    task_ids = count()
    next(task_ids)  # mini-racer reserves id 0 for tasks it never cancels
    handle = ContextType(dll.mr_init_context(on_callback))
    try:
        with _running_event_loop(None) as loop:
            context = Context(dll, handle, loop, ObjectFactoryImpl(), task_ids)
            yield context
    finally:
        dll.mr_free_context(handle)


def make_sync_function(context: Any) -> Any:
    """Return a JavaScript function that calls the context's bridge callback synchronously."""
    raw = context._dll.mr_make_js_callback(context._ctx, BRIDGE_CALLBACK_ID)
    return context._value_handle_to_python(context._wrap_raw_handle(raw))


def context_count() -> int:
    """Return how many V8 contexts this process holds (for leak checks)."""
    return int(init_mini_racer(ignore_duplicate_init=True).mr_context_count())


_PARSE_HEAD = re.compile(r"^(?P<file>.*):(?P<line>\d+): (?P<message>.*)$")
_CHECK_PREFIX = "(function(){"


class SyntaxChecker:
    """An isolate of its own that compiles failing sources, never running them, to
    read where they fail. One serves the process: it is made by the first sandbox, on
    that sandbox's thread (making it on an isolate's thread would leave a dummy
    ``threading`` entry behind for every isolate), and closed at exit."""

    _lock = threading.Lock()
    _instance: MiniRacer | None = None

    @classmethod
    def ensure(cls) -> None:
        """Make the process's checker unless it exists."""
        with cls._lock:
            if cls._instance is None:
                cls._instance = MiniRacer()
                atexit.register(cls.close)

    @classmethod
    def close(cls) -> None:
        """Free the checker's isolate."""
        with cls._lock:
            instance, cls._instance = cls._instance, None
        if instance is not None:
            instance.close()

    @classmethod
    def compile_error(cls, code: str) -> str | None:
        """Return V8's parse-error message for ``code``, or None if it compiles."""
        cls.ensure()
        assert cls._instance is not None
        try:
            cls._instance.eval(code)
        except JSParseException as exc:
            return str(exc)
        return None


def locate_syntax_error(file: str, source: str) -> dict[str, Any]:
    """Find where ``source`` fails to parse, in the checker isolate, without running it.

    Returns:
        ``{"file", "line", "column", "message", "sourceLine", "caret"}``; line and
        column are 0 when the engine gives no place.
    """
    code = f"{_CHECK_PREFIX}{source}\n}})\n//# sourceURL={file}"
    place: dict[str, Any] = {"file": file, "line": 0, "column": 0, "message": "",
                             "sourceLine": "", "caret": ""}
    error = SyntaxChecker.compile_error(code)
    if error is not None:
        place.update(_parse_location(error))
    lines = source.split("\n")
    if place["line"] > len(lines):  # "unexpected end of input": point at the last line
        place.update(line=len(lines), column=len(lines[-1]) + 1, sourceLine=lines[-1],
                     caret=" " * len(lines[-1]) + "^")
    return place


def _parse_location(text: str) -> dict[str, Any]:
    lines = text.split("\n")
    head = _PARSE_HEAD.match(lines[0])
    if head is None or len(lines) < 3:
        return {"message": lines[0]}
    line, source_line, caret = int(head["line"]), lines[1], lines[2]
    column = caret.find("^") + 1
    if line == 1 and source_line.startswith(_CHECK_PREFIX):
        source_line = source_line[len(_CHECK_PREFIX) :]
        caret = caret[len(_CHECK_PREFIX) :]
        column -= len(_CHECK_PREFIX)
    return {"line": line, "column": max(column, 0), "message": head["message"],
            "sourceLine": source_line, "caret": caret}


@dataclass
class _Pending:
    """A run handed to the isolate, finished exactly once."""

    job: Job
    done: threading.Event | None = None  # only a caller waiting on another thread needs one
    outcome: Outcome | None = None


@dataclass
class _Batch:
    jobs: Iterator[Job]
    outcomes: list[Outcome] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


class MiniRacerSandbox(Sandbox):
    """One V8 isolate running one robot, kept warm across its runs.

    Args:
        modules: where the robot script and the modules it requires come from.
        limits: per-run timeout and the isolate's heap limit.
        buffer_bytes: size of the shared buffer; larger messages travel in frames.
        queue_bytes: size of the deferred-call queue (record writes).
    """

    def __init__(self, modules: ModuleSource, limits: Limits,
                 buffer_bytes: int = DEFAULT_BUFFER_BYTES,
                 queue_bytes: int = DEFAULT_QUEUE_BYTES) -> None:
        self._modules = modules
        self._limits = limits
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._current: _Pending | None = None
        self._batch: _Batch | None = None
        self._deadline: float | None = None
        self._kill_reason: RunStatus | None = None
        self._answers: dict[int, Callable[[], Any]] = {}
        self._answer_seq = 0
        self._alive = True
        self._closed = False
        SyntaxChecker.ensure()
        self._context_cm = bridged_context(self._on_bridge_call)
        context = self._context_cm.__enter__()
        try:
            self._start(context, buffer_bytes, queue_bytes)
        except BaseException:
            self._context_cm.__exit__(None, None, None)
            raise

    def _start(self, context: Any, buffer_bytes: int, queue_bytes: int) -> None:
        self._mr = MiniRacer(context)
        self._mr.set_hard_memory_limit(self._limits.memory_mb * 1024 * 1024)
        # mini-racer installs a setTimeout whose callbacks would never run here.
        self._mr.eval("setTimeout = undefined; clearTimeout = undefined; "
                      "__timer_manager = undefined;")
        shared = self._mr.eval(f"globalThis.__rr_sab = new SharedArrayBuffer({buffer_bytes})")
        if not isinstance(shared, memoryview):
            raise SandboxError(f"mini-racer gave {type(shared).__name__} for a SharedArrayBuffer")
        self._endpoint = BridgeEndpoint(shared, self._dispatch)
        queue = self._mr.eval(f"globalThis.__rr_queue = new SharedArrayBuffer({queue_bytes})")
        if not isinstance(queue, memoryview):
            raise SandboxError(f"mini-racer gave {type(queue).__name__} for a SharedArrayBuffer")
        self._queue = DeferredQueue(queue)
        global_object: Any = self._mr.eval("globalThis")
        global_object["__rr_host"] = make_sync_function(context)
        self._loop: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(
            self._mr.eval_cancelable(jslibs.source("bridge") + "\n//# sourceURL=libs/bridge.js"),
            context.event_loop)
        self._loop.add_done_callback(self._on_loop_exit)

    # --- the caller's side -----------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._alive

    def run(self, job: Job) -> Outcome:
        pending = _Pending(job, threading.Event())
        self._submit(pending)
        self._watch(pending.done)
        assert pending.outcome is not None
        return pending.outcome

    def run_batch(self, jobs: Iterable[Job]) -> list[Outcome]:
        batch = _Batch(iter(jobs))
        self._submit(batch)
        self._watch(batch.done)
        return batch.outcomes

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._alive:
            self._jobs.put(_STOP)
        try:
            self._loop.result(timeout=self._limits.timeout_s + 5)
        except BaseException:  # noqa: BLE001 - how the loop ended was reported already
            pass
        self._drain_event_loop()
        self._mr.close()
        self._context_cm.__exit__(None, None, None)

    def _drain_event_loop(self) -> None:
        """Let mini-racer's event loop finish the evaluation task before it stops."""
        loop = self._mr._ctx.event_loop if self._mr._ctx is not None else None
        if loop is None or not loop.is_running():
            return
        for _ in range(3):
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(timeout=5)

    def _submit(self, item: Any) -> None:
        if not self._alive or self._closed:
            raise SandboxError("this sandbox was thrown away; make a new one")
        self._jobs.put(item)

    def _watch(self, done: threading.Event | None) -> None:
        """Wait for ``done``; past the run's deadline, terminate the script."""
        assert done is not None
        while not done.wait(_WATCH_INTERVAL_S):
            deadline = self._deadline
            if deadline is not None and time.monotonic() > deadline:
                self._kill(RunStatus.TIMEOUT)
                done.wait()

    def _kill(self, reason: RunStatus) -> None:
        self._kill_reason = reason
        self._loop.cancel()  # mini-racer cancels the evaluation: V8 terminates the script

    # --- the isolate's side (runs on the isolate's thread) ---------------------------

    def _on_bridge_call(self) -> None:
        self._endpoint.serve_frame()

    def _dispatch(self, request: str) -> str:
        if self._queue.pending():
            self._perform_deferred()
        if request == NEXT_AFTER_OK:
            return self._next(_OK_RESULT)
        op, *args = json.loads(request)
        if op == "$answer":
            return _json(self._answer(int(args[0])))
        if op == "$flush":
            return ""
        if op == "$next":
            return self._next(args[0])
        if op == "$require":
            return _module_json(self._modules.require(str(args[0]), str(args[1])))
        if op == "$entry":
            return _module_json(self._modules.entry())
        if op == "$syntax":
            return json.dumps(locate_syntax_error(str(args[0]), str(args[1])))
        current = self._current
        if current is None:
            raise HostCallError(f"host call {op!r} outside a run")
        return _json(current.job.host.handle(op, args))

    def _perform_deferred(self) -> None:
        """Perform the queued calls, in order, keeping their answers for ``$answer``."""
        # A batch makes thousands of short-lived objects and no cycles: the cyclic
        # collector would only walk them, so it waits until the batch is done.
        with _collector_paused():
            self._perform_deferred_batch()

    def _perform_deferred_batch(self) -> None:
        current = self._current
        entries = self._queue.take()
        if current is None:
            return
        calls = []
        heads: dict[str, list[Any]] = {}  # a loop of writes repeats the same head
        for entry in entries:
            head, _, tail = entry.partition("\x01")
            parsed = heads.get(head)
            if parsed is None:
                op, *args = json.loads(head)
                parsed = heads[head] = [op, args]
            calls.append((parsed[0], parsed[1], tail or None))
        for answer in current.job.host.defer(calls):
            self._answers[self._answer_seq] = answer
            self._answer_seq += 1

    def _answer(self, seq: int) -> Any:
        answer = self._answers.pop(seq, None)
        if answer is None:
            raise HostCallError("that write's result is no longer available "
                                "(it belongs to an earlier run)")
        return answer()

    def _next(self, result: dict[str, Any] | None) -> str:
        self._answers.clear()
        if result is not None:
            self._finish(_outcome_of(result))
            if result.get("fatal"):
                self._alive = False
                return ""
        pending = self._take()
        if pending is None:
            return ""
        with self._lock:
            self._current = pending
        deadline = time.monotonic() + self._limits.timeout_s
        pending.job.host.start(deadline)
        self._deadline = deadline
        event = pending.job.event
        return f"{event.auth}\x00{event.text}"  # bridge.js splits at the first NUL

    def _take(self) -> _Pending | None:
        """Block until the next run; a batch is served here without thread hand-offs."""
        while True:
            if self._batch is not None:
                job = next(self._batch.jobs, None)
                if job is not None:
                    return _Pending(job)
                self._batch.done.set()
                self._batch = None
            item = self._jobs.get()
            if item is _STOP:
                return None
            if isinstance(item, _Batch):
                self._batch = item
                continue
            assert isinstance(item, _Pending)
            return item

    def _finish(self, outcome: Outcome) -> None:
        with self._lock:
            pending, self._current = self._current, None
            self._deadline = None
        if pending is None or pending.outcome is not None:
            return
        pending.outcome = outcome
        if pending.done is not None:
            pending.done.set()
        if self._batch is not None:
            self._batch.outcomes.append(outcome)

    def _on_loop_exit(self, loop: concurrent.futures.Future[Any]) -> None:
        self._alive = False
        outcome = self._death_outcome(loop)
        # What the robot queued before it was stopped is still in the shared memory.
        if self._queue.pending():
            try:
                self._perform_deferred()
            except Exception as exc:  # noqa: BLE001 - the run's outcome is what matters now
                outcome = Outcome(outcome.status, JsError(
                    "Error", f"{outcome.error.message if outcome.error else ''}; "
                    f"queued writes failed: {exc}"))
        self._finish(outcome)
        batch, self._batch = self._batch, None
        if batch is not None:
            batch.done.set()

    def _death_outcome(self, loop: concurrent.futures.Future[Any]) -> Outcome:
        if self._kill_reason is not None:
            return Outcome(self._kill_reason, JsError(
                "TimeoutError", f"run exceeded its {self._limits.timeout_s:g} s limit"))
        exc = loop.exception()
        if isinstance(exc, JSOOMException) or self._mr.was_hard_memory_limit_reached():
            return Outcome(RunStatus.MEMORY, JsError(
                "RangeError", f"heap limit of {self._limits.memory_mb} MB reached"))
        if exc is None:
            return Outcome(RunStatus.ERROR, JsError("Error", "the robot stopped its own loop"))
        return Outcome(RunStatus.ERROR, JsError("Error", str(exc).strip(), str(exc)))


@contextmanager
def _collector_paused() -> Generator[None, None, None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _json(answer: Any) -> str:
    if answer is None:
        return ""
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":"))


def _module_json(code: Any) -> str:
    return json.dumps({"id": code.id, "file": code.file, "dir": code.dir,
                       "source": code.source, "privileged": code.privileged},
                      ensure_ascii=False)


def _outcome_of(result: dict[str, Any]) -> Outcome:
    if result.get("ok"):
        return _OK_OUTCOME
    error = result.get("error") or {}
    return Outcome(RunStatus.ERROR, JsError(str(error.get("name", "Error")),
                                            str(error.get("message", "")),
                                            str(error.get("stack", ""))))

