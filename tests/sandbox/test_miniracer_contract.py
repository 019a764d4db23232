"""The mini-racer internals runtime/sandbox/miniracer.py relies on. If an upgrade of
mini-racer breaks one of them, this file fails first and says which."""

from __future__ import annotations

import threading

from py_mini_racer import MiniRacer

from runtime.sandbox.miniracer import bridged_context, make_sync_function


def test_shared_array_buffer_reaches_python_as_writable_memoryview_onto_v8_memory() -> None:
    with MiniRacer() as mr:
        view = mr.eval("var sab = new SharedArrayBuffer(16); var u8 = new Uint8Array(sab); sab")
        assert isinstance(view, memoryview) and view.nbytes == 16
        view[3] = 42
        assert mr.eval("u8[3]") == 42
        mr.eval("u8[5] = 7")
        assert view[5] == 7


def test_sync_function_calls_python_on_the_isolate_thread_and_waits_for_it() -> None:
    seen: list[str] = []

    def on_call() -> None:
        seen.append(threading.current_thread().name)
        shared[0] = shared[0] + 1  # the script reads this right after the call

    with bridged_context(on_call) as context:
        mr = MiniRacer(context)
        shared = mr.eval("var sab = new SharedArrayBuffer(8); var u8 = new Uint8Array(sab); sab")
        assert isinstance(shared, memoryview)
        global_object = mr.eval("globalThis")
        global_object["hostFn"] = make_sync_function(context)  # type: ignore[index]
        result = mr.eval("var out = []; for (var i = 0; i < 3; i++) { hostFn(); out.push(u8[0]); }"
                         " out.join(',')")
        mr.close()
    assert result == "1,2,3"
    assert len(seen) == 3 and threading.main_thread().name not in seen


def test_other_callbacks_still_reach_mini_racer() -> None:
    with bridged_context(lambda: None) as context:
        mr = MiniRacer(context)
        promise = mr.eval("Promise.resolve(41).then(x => x + 1)")
        assert promise.get(timeout=5) == 42  # type: ignore[union-attr]
        mr.close()


def test_cancelling_an_evaluation_terminates_a_running_script() -> None:
    import asyncio

    with bridged_context(lambda: None) as context:
        mr = MiniRacer(context)
        future = asyncio.run_coroutine_threadsafe(mr.eval_cancelable("for(;;){}"),
                                                  context.event_loop)
        threading.Event().wait(0.1)
        assert future.cancel()
        assert mr.eval("1 + 1") == 2  # the isolate answers again: the loop was terminated
        mr.close()
