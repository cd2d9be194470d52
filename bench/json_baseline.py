"""The gateway bench's baseline: a bare aiohttp process answering one JSON document (`GET /json`), the floor of what
any aiohttp JSON endpoint costs on this machine. `BASELINE_BODY_FILE` is the document (the bench gives it the
gateway's own catalog page, so both answer the same bytes); `HTTP_PORT` the port. `/readyz` for the bench's start."""

from __future__ import annotations

import json
import os
from pathlib import Path

from aiohttp import web


def build_app(document: object) -> web.Application:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response(document)

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/json", answer)
    app.router.add_get("/readyz", ready)
    return app


if __name__ == "__main__":
    document = json.loads(Path(os.environ["BASELINE_BODY_FILE"]).read_text())
    web.run_app(build_app(document), host="127.0.0.1", port=int(os.environ["HTTP_PORT"]), access_log=None, print=None)
