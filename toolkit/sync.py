"""Run a coroutine to completion from synchronous code, inside a running event loop or not."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """``coroutine``'s result. Without a running event loop it runs on this thread; inside one
    (a Jupyter notebook) it gets a thread and a loop of its own, since a running loop cannot be
    re-entered."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
