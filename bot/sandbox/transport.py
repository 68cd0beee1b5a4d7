"""The sandbox's HTTP: the aiohttp server the bot calls and the client that POSTs updates to the bot's webhook.

:class:`HttpFrontend` routes ``/bot<token>/<method>`` and ``/file/bot<token>/<path>``, parses JSON, form and
multipart requests, applies the injected transport faults and wraps results in Telegram's ``{"ok": ...}``
envelope; what a method does is the business of the ``execute`` callable it is given (``methods.py``).
:class:`WebhookClient` posts one update and reads the method call a webhook may answer with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.multipart import MultipartResponseWrapper

from bot.sandbox.faults import FaultControls
from bot.sandbox.spec import ApiError, UploadedFile, bad_request, not_found
from bot.sandbox.state import SandboxState, SandboxStats

# The largest file a bot may upload (sendDocument); requests may be a little larger than that.
DOCUMENT_LIMIT = 50 * 1024 * 1024
_WEBHOOK_TIMEOUT = 60.0

Execute = Callable[[str, Mapping[str, Any], Mapping[str, UploadedFile]], Awaitable[Any]]
WebhookReply = tuple[dict[str, Any], dict[str, UploadedFile]]


class HttpFrontend:
    """The Bot API endpoint the bot under test talks to."""

    def __init__(self, state: SandboxState, faults: FaultControls, execute: Execute) -> None:
        self._state = state
        self._faults = faults
        self._execute = execute
        self._runner: web.AppRunner | None = None
        self.base_url: str | None = None

    async def start(self, host: str, port: int) -> None:
        app = web.Application(client_max_size=DOCUMENT_LIMIT + 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle_http)
        # handler_cancellation: a bot that goes away must not leave a ghost long poll.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/file/bot"):
            return self._serve_file(path)
        match = re.fullmatch(r"/bot([^/]*)/([^/]+)", path)
        if match is None:
            return _json(not_found().payload(), 404)
        token, method_name = match.groups()
        try:
            self._state.claim_token(token)
        except ApiError as exc:
            return _json(exc.payload(), exc.status)
        method = self._state.spec.canonical_method(method_name)
        if method is None:
            return _json(not_found().payload(), 404)
        try:
            params, files = await _read_params(request)
        except ApiError as exc:
            return _json(exc.payload(), exc.status)

        self._state.stats.calls[method] += 1
        await self._faults.delay()
        fault = self._faults.fault_before(method)
        if fault == "drop":
            return _drop(request)
        if fault == 502:
            return _json(ApiError(502, "Bad Gateway").payload(), 502)
        if fault == 500:
            return _json(ApiError(500, "Internal Server Error").payload(), 500)

        try:
            result = await self._execute(method, params, files)
            body: dict[str, Any] = {"ok": True, "result": result}
            status = 200
        except ApiError as exc:
            body, status = exc.payload(), exc.status
        if self._faults.drop_after(method):
            return _drop(request)
        return _json(body, status)

    def _serve_file(self, path: str) -> web.Response:
        match = re.fullmatch(r"/file/bot([^/]*)/(.+)", path)
        if match is None:
            return _json(not_found().payload(), 404)
        try:
            self._state.claim_token(match.group(1))
        except ApiError as exc:
            return _json(exc.payload(), exc.status)
        stored = self._state.files_by_path.get(match.group(2))
        if stored is None:
            return _json(not_found().payload(), 404)
        return web.Response(body=stored.content, content_type=stored.mime_type or "application/octet-stream")


class WebhookClient:
    """The HTTP client that delivers updates to the bot's webhook."""

    def __init__(self, stats: SandboxStats) -> None:
        self._stats = stats
        self._http: aiohttp.ClientSession | None = None

    def open(self) -> None:
        self._http = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def post_update(
        self, url: str, secret_token: str | None, payload: Mapping[str, Any]
    ) -> tuple[str | None, WebhookReply | None]:
        """POST one update; return (error message, reply method call)."""
        assert self._http is not None
        headers = {"Content-Type": "application/json"}
        if secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        self._stats.webhook_posts += 1
        try:
            async with self._http.post(
                url,
                data=json.dumps(payload),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=_WEBHOOK_TIMEOUT),
            ) as resp:
                if not 200 <= resp.status < 300:
                    return f"Wrong response from the webhook: {resp.status} {resp.reason}", None
                return None, await _read_reply(resp)
        except TimeoutError:
            return "Read timeout expired", None
        except aiohttp.ClientConnectorError:
            return "Connection refused", None
        except (aiohttp.ClientError, OSError) as exc:
            return f"Connection error: {type(exc).__name__}", None


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    params: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.method != "POST" or not request.body_exists:
        return params, files
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON request body") from None
        if not isinstance(body, dict):
            raise bad_request("JSON request body must be an object")
        params.update(body)
    elif content_type == "multipart/form-data":
        if not await _read_multipart(await request.multipart(), params, files):
            raise bad_request("malformed multipart request")
    elif content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params, files


async def _read_reply(resp: aiohttp.ClientResponse) -> WebhookReply | None:
    """A method call in a webhook answer, sent as JSON or (aiogram's way) as multipart."""
    content_type = resp.content_type
    params: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    if content_type == "application/json":
        try:
            body = await resp.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        params = body
    elif content_type.startswith("multipart/"):
        await _read_multipart(aiohttp.MultipartReader.from_response(resp), params, files)
    return (params, files) if params.get("method") else None


async def _read_multipart(
    reader: aiohttp.MultipartReader | MultipartResponseWrapper,
    params: dict[str, Any],
    files: dict[str, UploadedFile],
) -> bool:
    """Split a form into text fields and file parts; False if a part has no usable name."""
    well_formed = True
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
            well_formed = False
            continue
        if part.filename is not None:
            files[part.name] = UploadedFile(part.filename, bytes(await part.read()), part.headers.get("Content-Type"))
        else:
            params[part.name] = await part.text()
    return well_formed


def _json(body: Mapping[str, Any], status: int) -> web.Response:
    return web.json_response(body, status=status)


def _drop(request: web.Request) -> web.Response:
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)
