"""Send requests through a real LiteLLM Router; run by the pinned LiteLLM environment's Python.

Reads one JSON job on stdin: ``config`` (``model_list`` and Router settings exactly as a
LiteLLM proxy config's ``model_list`` / ``router_settings`` say them), ``model`` (the group to
call), ``requests`` and ``concurrency``. Each request carries ``x-request-id: r<i>`` so the
mock providers' log ties every call to its request. Prints one JSON line per request:
``{"request": "r<i>", "ok": bool, "t0": ..., "t1": ..., "error": "..."}`` (monotonic seconds).
Imports only the standard library and litellm: it runs outside the project's environment.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def main() -> None:
    import litellm
    from litellm import Router

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    job = json.load(sys.stdin)
    router = Router(model_list=job["config"]["model_list"], **job["config"].get("router_settings", {}))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(job["requests"]):
        queue.put_nowait(i)

    async def one(i: int) -> None:
        t0 = time.monotonic()
        error = ""
        try:
            await router.acompletion(
                model=job["model"],
                messages=[{"role": "user", "content": "say hi"}],
                max_tokens=4,
                extra_headers={"x-request-id": f"r{i}"},
            )
        except Exception as exc:
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
        line = {"request": f"r{i}", "ok": not error, "t0": t0, "t1": time.monotonic(), "error": error}
        print(json.dumps(line), flush=True)

    async def worker() -> None:
        while not queue.empty():
            await one(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(job["concurrency"])))


if __name__ == "__main__":
    asyncio.run(main())
