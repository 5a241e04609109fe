"""Request limits every endpoint shares.

`BodyLimit` refuses a request body larger than the server's limits with 413 before it is read — by its
Content-Length, or, for a chunked body, as soon as the bytes received pass the limit: JSON bodies at most
`server.max_json_kb`, multipart uploads at most `server.max_upload_mb`.
"""

from __future__ import annotations

import json
from typing import Any

from tenantctl.serving.errors import HttpRefusal, is_openai, openai_shape


def _too_large(limit: int, multipart: bool) -> tuple[str, str]:
    """The 413's error and hint, the same whether Content-Length told or the bytes of a chunked body did (it
    said "see the API documentation at /docs"), naming the one limit that applies (an upload's or a JSON body's)."""
    hint = ("send fewer or smaller files, or ask the server's operator to raise `server.max_upload_mb`" if multipart
            else "send a smaller body, or ask the server's operator to raise `server.max_json_kb`")
    return f"request body larger than the limit of {limit} bytes", hint


class BodyTooLarge(HttpRefusal):
    def __init__(self, limit: int, multipart: bool) -> None:
        super().__init__(413, *_too_large(limit, multipart))


class BodyLimit:
    """Pure ASGI middleware: caps every request body."""

    def __init__(self, app: Any, *, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        limit = self.upload_limit if multipart else self.json_limit
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, limit, multipart, is_openai(scope.get("path", "")))
            return
        received = 0

        async def limited() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, multipart)
            return message

        started = False

        async def tracking_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except BodyTooLarge:
            if not started:
                await _refuse(send, limit, multipart, is_openai(scope.get("path", "")))


async def _refuse(send: Any, limit: int, multipart: bool, openai: bool = False) -> None:
    error, hint = _too_large(limit, multipart)
    shaped = openai_shape(error, hint, 413) if openai else {"error": error, "hint": hint, "detail": error}
    body = json.dumps(shaped).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
