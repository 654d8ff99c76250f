"""Work started on a thread of its own while the caller goes on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future


def meanwhile(name: str, function: Callable[..., object], *arguments: object) -> Future:
    """Start `function(*arguments)` on a thread called `name`; its result, or what it raised,
    in the future returned. When no thread can be had, it is called here and now."""
    future: Future = Future()

    def call() -> None:
        try:
            future.set_result(function(*arguments))
        except BaseException as error:  # for whoever asks for the result
            future.set_exception(error)

    try:
        threading.Thread(target=call, name=name).start()
    except RuntimeError:  # no thread to be had
        call()
    return future
