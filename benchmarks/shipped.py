"""`python -m benchmarks.shipped TARGET PORT`: an ASGI app factory on the server `serve` runs.

The same uvicorn, protocol (httptools with the head deadline and connection limit), loop,
logging and default limits as `marketbrief serve`, through the same function
(`marketbrief.web.serving.serve`), so the bare ceiling and the FastAPI baseline are measured on
exactly the stack marketbrief ships with.
"""

from __future__ import annotations

import sys

from marketbrief.config import HttpServing
from marketbrief.web.serving import serve


def main(argv: list[str]) -> None:
    """Serve `argv[0]` (module:factory) on 127.0.0.1:`argv[1]`."""
    target, port = argv
    serve("127.0.0.1", int(port), 1, HttpServing(), app=target)


if __name__ == "__main__":
    main(sys.argv[1:])
