"""A blocking ``http.server`` handler served on 127.0.0.1 for one test or module.

The tests' small hand-written servers (hostile providers, echoing providers, catalog hosts)
need behaviour no ASGI app gives cheaply (drips, bombs, raw bytes); this is the one place
that starts and stops them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free port of 127.0.0.1; yields the root URL (``http://127.0.0.1:PORT``).

    Request threads are daemons, so a handler stuck in an endless body never holds up the
    test process; the server stops and its socket closes when the block ends.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
