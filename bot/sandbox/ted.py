"""A local stand-in for the TED Search API v3 (``POST /v3/notices/search``) that the fetcher is tested against.

:class:`TedStandIn` serves notices given in memory or loaded from files (TED search responses), evaluates
the subset of the expert query the bot sends (``AND``/``OR``/brackets, ``field IN (...)``, ``field=value``,
``FT ~ word`` or ``FT ~ "phrase"`` over the titles, ``publication-date`` compared with ``YYYYMMDD`` or
``today(-N)``) and refuses anything else as TED does (400, ``{"type": "QUERY_SYNTAX_ERROR", ...}``). It
paginates with ITERATION tokens over a frozen snapshot (a token, like TED's, is also returned with the last
page: the client stops on an empty page) or with PAGE_NUMBER, and injects faults per call number: 429 with
Retry-After, 5xx, an expired token, slow answers, truncated bodies, dropped connections, huge bodies and an
iteration that never ends.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

SEARCH_PATH = "/v3/notices/search"
EXPIRED_TOKEN_TYPE = "ITERATION_TOKEN_EXPIRED"
_BODY_KEYS = frozenset(
    {
        "query",
        "fields",
        "page",
        "limit",
        "scope",
        "paginationMode",
        "iterationNextToken",
        "onlyLatestVersions",
        "checkQuerySyntax",
    }
)
_ALWAYS_RETURNED = ("publication-number", "links")


class QuerySyntaxError(ValueError):
    """The expert query is outside what the stand-in (and the bot) speaks."""


# --- the expert query subset ---------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>>=|<=|!=|[()=~<>])
      | (?P<word>\w[\w.\-]*(?:\(-?\d+\))?)
    )""",
    re.VERBOSE,
)
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "SORT", "BY"})
_SET_FIELDS = frozenset({"classification-cpv", "buyer-country", "notice-type", "place-of-performance"})
_DATE_FIELDS = frozenset({"publication-date"})
_WORD_RE = re.compile(r"\w+")
_DATE_RE = re.compile(r"^(\d{8})$|^today\((-?\d+)\)$")

Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class _Token:
    kind: str  # "string", "op", "word", "end"
    text: str


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(query):
        if query[position:].strip() == "":
            break
        match = _TOKEN_RE.match(query, position)
        if match is None or match.end() == position:
            raise QuerySyntaxError(f"unexpected character at {position}: {query[position : position + 20]!r}")
        kind = match.lastgroup or "word"
        tokens.append(_Token(kind, match.group(kind)))
        position = match.end()
    tokens.append(_Token("end", ""))
    return tokens


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.casefold())


def _values(notice: Mapping[str, Any], name: str) -> list[str]:
    value = notice.get(name)
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)]


def _titles(notice: Mapping[str, Any]) -> list[str]:
    texts: list[str] = []
    for name in ("notice-title", "title-proc", "title-lot"):
        value = notice.get(name)
        if isinstance(value, dict):
            for text in value.values():
                texts.extend(text if isinstance(text, list) else [text])
    return [str(text) for text in texts]


class _Parser:
    """Recursive descent: ``expr := term (OR term)*``, ``term := factor (AND factor)*``,
    ``factor := "(" expr ")" | comparison``."""

    def __init__(self, query: str, today: date) -> None:
        self._tokens = _tokenize(query)
        self._at = 0
        self._today = today

    def parse(self) -> Predicate:
        predicate = self._expr()
        if self._peek().kind != "end":
            raise QuerySyntaxError(f"unexpected {self._peek().text!r}")
        return predicate

    def _peek(self) -> _Token:
        return self._tokens[self._at]

    def _next(self) -> _Token:
        token = self._tokens[self._at]
        self._at += 1
        return token

    def _is(self, text: str) -> bool:
        token = self._peek()
        return token.kind != "string" and token.text == text

    def _expect(self, text: str) -> None:
        if not self._is(text):
            raise QuerySyntaxError(f"expected {text!r}, found {self._peek().text or 'the end'!r}")
        self._next()

    def _expr(self) -> Predicate:
        parts = [self._term()]
        while self._is("OR"):
            self._next()
            parts.append(self._term())
        return parts[0] if len(parts) == 1 else (lambda notice: any(part(notice) for part in parts))

    def _term(self) -> Predicate:
        parts = [self._factor()]
        while self._is("AND"):
            self._next()
            parts.append(self._factor())
        return parts[0] if len(parts) == 1 else (lambda notice: all(part(notice) for part in parts))

    def _factor(self) -> Predicate:
        if self._is("("):
            self._next()
            inner = self._expr()
            self._expect(")")
            return inner
        name = self._next()
        if name.kind != "word" or name.text in _KEYWORDS:
            raise QuerySyntaxError(f"expected a field, found {name.text or 'the end'!r}")
        if name.text == "FT":
            return self._full_text()
        if name.text in _SET_FIELDS:
            return self._set_field(name.text)
        if name.text in _DATE_FIELDS:
            return self._date_field(name.text)
        raise QuerySyntaxError(f"unknown field {name.text!r}")

    def _full_text(self) -> Predicate:
        self._expect("~")
        token = self._next()
        if token.kind == "string":
            phrase = _words(_unquote(token.text))
        elif token.kind == "word" and token.text not in _KEYWORDS and "(" not in token.text:
            phrase = _words(token.text)
        else:
            raise QuerySyntaxError(f"expected a word or a quoted phrase after FT ~, found {token.text!r}")
        if not phrase:
            raise QuerySyntaxError("an empty full-text phrase")

        def matches(notice: Mapping[str, Any]) -> bool:
            width = len(phrase)
            for title in _titles(notice):
                words = _words(title)
                if any(words[i : i + width] == phrase for i in range(len(words) - width + 1)):
                    return True
            return False

        return matches

    def _value(self) -> str:
        token = self._next()
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind != "word" or token.text in _KEYWORDS:
            raise QuerySyntaxError(f"expected a value, found {token.text or 'the end'!r}")
        return token.text

    def _set_field(self, name: str) -> Predicate:
        if self._is("="):
            self._next()
            wanted = {self._value()}
        elif self._is("IN"):
            self._next()
            self._expect("(")
            wanted = set()
            while not self._is(")"):
                wanted.add(self._value())
            self._next()
            if not wanted:
                raise QuerySyntaxError(f"an empty IN list for {name}")
        else:
            raise QuerySyntaxError(f"expected = or IN after {name}, found {self._peek().text!r}")
        return lambda notice: any(value in wanted for value in _values(notice, name))

    def _date_field(self, name: str) -> Predicate:
        operator = self._next()
        if operator.kind != "op" or operator.text not in {"=", ">=", "<=", ">", "<"}:
            raise QuerySyntaxError(f"expected a comparison after {name}, found {operator.text!r}")
        literal = self._value()
        match = _DATE_RE.match(literal)
        if match is None:
            raise QuerySyntaxError(f"not a date: {literal!r} (YYYYMMDD or today(-N))")
        if match.group(1):
            try:
                bound = date(int(literal[:4]), int(literal[4:6]), int(literal[6:8]))
            except ValueError:
                raise QuerySyntaxError(f"not a date: {literal!r}") from None
        else:
            bound = self._today + timedelta(days=int(match.group(2)))
        compare: dict[str, Callable[[date], bool]] = {
            "=": lambda day: day == bound,
            ">=": lambda day: day >= bound,
            "<=": lambda day: day <= bound,
            ">": lambda day: day > bound,
            "<": lambda day: day < bound,
        }
        check = compare[operator.text]

        def matches(notice: Mapping[str, Any]) -> bool:
            for value in _values(notice, name):
                try:
                    day = date.fromisoformat(value[:10])
                except ValueError:
                    continue
                if check(day):
                    return True
            return False

        return matches


def compile_query(query: str, *, today: date) -> Predicate:
    """The expert query as a predicate over notices; :class:`QuerySyntaxError` outside the subset."""
    return _Parser(query, today).parse()


# --- faults --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """What the stand-in does instead of (or to) its answer to one call.

    ``kind``: ``"429"`` (with ``Retry-After: retry_after``), ``"5xx"`` (``status``), ``"expired"`` (the
    token is refused as expired and forgotten), ``"slow"`` (answers after ``delay`` seconds), ``"truncated"``
    (declares the whole body, sends half and closes), ``"timed_out"`` (a partial page flagged ``timedOut``,
    the snapshot not advanced), ``"drop"`` (closes the connection without answering),
    ``"huge"`` (a body of ``size`` bytes; ``chunked`` hides its length), ``"bad_json"``.
    """

    kind: str
    status: int = 503
    retry_after: str | None = "1"
    delay: float = 0.0
    size: int = 0
    chunked: bool = False


@dataclass
class _Snapshot:
    notices: list[dict[str, Any]]
    limit: int
    fields: list[str] | None
    offset: int = 0


@dataclass
class TedStats:
    calls: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)  # HTTP status per call (0: no answer)


class TedStandIn:
    """A local TED Search API: ``async with TedStandIn(notices) as ted: ... ted.base_url ...``."""

    def __init__(self, notices: Iterable[Mapping[str, Any]] = (), *, today: date | None = None) -> None:
        self._notices: list[dict[str, Any]] = [copy.deepcopy(dict(notice)) for notice in notices]
        self._today = today or date.today()
        self._faults: dict[int, Fault] = {}
        self._snapshots: dict[str, _Snapshot] = {}
        self._endless = False
        self._serial = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.stats = TedStats()
        self.base_url = ""

    @staticmethod
    def load(paths: Iterable[Path]) -> list[dict[str, Any]]:
        """The notices of TED search-response files (``{"notices": [...]}``), in order."""
        notices: list[dict[str, Any]] = []
        for path in paths:
            notices.extend(json.loads(Path(path).read_text(encoding="utf-8"))["notices"])
        return notices

    @classmethod
    def from_files(cls, paths: Iterable[Path], *, today: date | None = None) -> TedStandIn:
        return cls(cls.load(paths), today=today)

    def add_notices(self, notices: Iterable[Mapping[str, Any]]) -> None:
        """Publish more notices (snapshots already taken do not see them)."""
        self._notices.extend(copy.deepcopy(dict(notice)) for notice in notices)

    def inject(self, call: int, fault: Fault) -> None:
        """Apply ``fault`` to the ``call``-th request (1-based, counted from the start)."""
        self._faults[call] = fault

    def never_end(self) -> None:
        """Every ITERATION page returns a token and the first page again: an iteration that never ends."""
        self._endless = True

    def expire_tokens(self) -> None:
        """Forget every iteration snapshot: the next token sent is refused as expired."""
        self._snapshots.clear()

    # --- HTTP ---

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_post(SEARCH_PATH, self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.base_url = f"http://{host}:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.stats.calls += 1
        call = self.stats.calls
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.stats.bodies.append(body if isinstance(body, dict) else {"_raw": raw.decode("utf-8", "replace")})
        fault = self._faults.get(call)
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            fault = None
        if fault is not None and fault.kind not in {"expired", "timed_out"}:
            return await self._faulty(request, fault)
        status, payload = self._answer(body, expire=fault is not None and fault.kind == "expired")
        if fault is not None and fault.kind == "timed_out" and status == 200:
            payload = {**payload, "notices": payload["notices"][:1], "timedOut": True}
        self.stats.answered.append(status)
        return web.json_response(payload, status=status)

    async def _faulty(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault.kind == "429":
            self.stats.answered.append(429)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return web.json_response({"type": "TOO_MANY_REQUESTS", "message": "slow down"}, status=429, headers=headers)
        if fault.kind == "5xx":
            self.stats.answered.append(fault.status)
            return web.Response(status=fault.status, text="upstream unavailable")
        if fault.kind == "bad_json":
            self.stats.answered.append(200)
            return web.Response(status=200, text='{"notices": [', content_type="application/json")
        if fault.kind in {"drop", "truncated"}:
            self.stats.answered.append(0)
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            if fault.kind == "truncated":
                payload = json.dumps({"notices": self._notices, "iterationNextToken": None}).encode()
                response.content_length = len(payload)
                await response.prepare(request)
                await response.write(payload[: len(payload) // 2])
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError  # aiohttp drops the connection without an answer
        if fault.kind == "huge":
            self.stats.answered.append(200)
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            if not fault.chunked:
                response.content_length = fault.size
            else:
                response.enable_chunked_encoding()
            await response.prepare(request)
            block = b" " * 65536
            sent = 0
            try:
                while sent < fault.size:
                    piece = block[: min(len(block), fault.size - sent)]
                    await response.write(piece)
                    sent += len(piece)
                await response.write_eof()
            except (ConnectionError, RuntimeError):
                pass  # the client hung up on the huge body, as it should
            return response
        raise ValueError(f"unknown fault {fault.kind!r}")

    def _error(self, kind: str, message: str) -> tuple[int, dict[str, Any]]:
        return 400, {"type": kind, "message": message, "status": 400}

    def _answer(self, body: Any, *, expire: bool) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            return self._error("INVALID_REQUEST", "the body is not a JSON object")
        unknown = sorted(set(body) - _BODY_KEYS)
        if unknown:
            return self._error("INVALID_REQUEST", f"unknown parameters: {', '.join(unknown)}")
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 0 <= limit <= 250:
            return self._error("INVALID_REQUEST", "limit must be between 0 and 250")
        if body.get("scope", "ACTIVE") not in {"ACTIVE", "LATEST", "ALL"}:
            return self._error("INVALID_REQUEST", "unknown scope")
        fields = body.get("fields")
        if fields is not None and not (isinstance(fields, list) and all(isinstance(f, str) for f in fields)):
            return self._error("INVALID_REQUEST", "fields must be a list of names")
        mode = body.get("paginationMode", "PAGE_NUMBER")
        token = body.get("iterationNextToken")
        if mode == "ITERATION" and token is not None:
            snapshot = None if expire else self._snapshots.get(str(token))
            if snapshot is None:
                self._snapshots.pop(str(token), None)
                return self._error(EXPIRED_TOKEN_TYPE, "the iteration token expired or is unknown")
            return 200, self._iteration_page(snapshot)
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            return self._error("QUERY_SYNTAX_ERROR", "a query is required")
        try:
            predicate = compile_query(query, today=self._today)
        except QuerySyntaxError as error:
            return self._error("QUERY_SYNTAX_ERROR", str(error))
        matching = [notice for notice in self._notices if predicate(notice)]
        if mode == "ITERATION":
            return 200, self._iteration_page(_Snapshot(copy.deepcopy(matching), limit, fields))
        if mode != "PAGE_NUMBER":
            return self._error("INVALID_REQUEST", f"unknown paginationMode {mode!r}")
        page = body.get("page", 1)
        if not isinstance(page, int) or page < 1:
            return self._error("INVALID_REQUEST", "page must be a positive integer")
        chosen = matching[(page - 1) * limit : page * limit]
        return 200, {
            "notices": [_project(notice, fields) for notice in chosen],
            "totalNoticeCount": len(matching),
            "iterationNextToken": None,
            "timedOut": False,
        }

    def _iteration_page(self, snapshot: _Snapshot) -> dict[str, Any]:
        if self._endless:
            chosen = snapshot.notices[: snapshot.limit]
        else:
            chosen = snapshot.notices[snapshot.offset : snapshot.offset + snapshot.limit]
        following = _Snapshot(snapshot.notices, snapshot.limit, snapshot.fields, snapshot.offset + len(chosen))
        token = f"it-{next(self._serial)}-{secrets.token_hex(6)}"
        self._snapshots[token] = following
        return {
            "notices": [_project(notice, snapshot.fields) for notice in chosen],
            "totalNoticeCount": len(snapshot.notices),
            "iterationNextToken": token,
            "timedOut": False,
        }


def _project(notice: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    if fields is None:
        return copy.deepcopy(dict(notice))
    wanted = set(fields) | set(_ALWAYS_RETURNED)
    return {name: copy.deepcopy(value) for name, value in notice.items() if name in wanted}


def sandbox_notices(today: date) -> list[dict[str, Any]]:
    """A few invented calls for competition published in the last days, for the sandbox console's stand-in (so a
    manager who presses "Fetch now" there sees tenders arrive). Not real notices."""
    wishes = (
        ("900101", "ROU", ["09332000"], "Panouri solare fotovoltaice pentru școli", "Solar panels for schools"),
        ("900102", "ROU", ["09111400"], "Peleți din biomasă pentru centrale termice", "Biomass pellets for boilers"),
        ("900103", "ROU", ["72000000"], "Servicii IT pentru digitalizarea primăriei", "IT services for the town hall"),
        ("900104", "AUT", ["09332000", "45261215"], "Photovoltaikanlagen auf Dächern", "Rooftop photovoltaic systems"),
        ("900105", "ROU", ["90513000"], "Compostarea nămolului de la stația de epurare", "Composting sewage sludge"),
    )
    notices = []
    for offset, (number, country, cpv, native, english) in enumerate(wishes):
        published = today - timedelta(days=offset % 3)
        language = "deu" if country == "AUT" else "ron"
        notices.append(
            {
                "publication-number": f"{number}-{today.year}",
                "notice-type": "cn-standard",
                "publication-date": f"{published.isoformat()}+02:00",
                "notice-title": {language: native, "eng": english},
                "buyer-name": {language: ["Primăria Municipiului Exemplu" if country == "ROU" else "Stadt Beispiel"]},
                "buyer-country": [country],
                "classification-cpv": cpv,
                "estimated-value-proc": str(150_000 * (offset + 1)),
                "estimated-value-cur-proc": "RON" if country == "ROU" else "EUR",
                "deadline-receipt-tender-date-lot": [f"{(today + timedelta(days=20 + 5 * offset)).isoformat()}+02:00"],
                "links": {"html": {"ENG": f"https://ted.europa.eu/en/notice/-/detail/{number}-{today.year}"}},
            }
        )
    return notices
