"""Bot API catalogue (bot_api.json) and strict validation of method call parameters."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.telegram_text import CALLBACK_DATA_LIMIT

SPEC_PATH = Path(__file__).with_name("bot_api.json")

# Telegram still accepts these pre-7.0 parameters and aiogram may send them when
# DefaultBotProperties are used, although the published spec no longer lists them.
# Each is accepted only by methods that have the field that replaced it.
_LEGACY_PARAMETERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "disable_web_page_preview": ("link_preview_options", ("Boolean",)),
    "reply_to_message_id": ("reply_parameters", ("Integer",)),
    "allow_sending_without_reply": ("reply_parameters", ("Boolean",)),
}

_MISSING_TEXT_MESSAGES = {
    ("sendMessage", "text"): "message text is empty",
    ("editMessageText", "text"): "message text is empty",
}

_INT_RE = re.compile(r"-?\d+")
_FLOAT_RE = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_BOOL_STRINGS = {"true": True, "false": False, "1": True, "0": False}
_DISCRIMINATOR_RE = re.compile(r'(?:must be|always) "?([a-z_]+)"?')

# Fields of InlineKeyboardButton that decorate a button instead of giving it an action.
_BUTTON_DECORATIONS = frozenset({"text", "icon_custom_emoji_id", "style"})


class ApiError(Exception):
    """A Bot API error answer: HTTP status, description and optional parameters."""

    def __init__(self, status: int, description: str, parameters: Mapping[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = dict(parameters) if parameters else None

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    content: bytes
    content_type: str | None = None

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fields: Mapping[str, FieldSpec]
    returns: tuple[str, ...]


@dataclass(frozen=True)
class TypeSpec:
    name: str
    fields: Mapping[str, FieldSpec]
    subtypes: tuple[str, ...]
    # (field name, constant) for concrete members of a union such as BotCommandScopeChat.
    discriminator: tuple[str, str] | None


class _Mismatch(Exception):
    """Internal: a value does not fit a type; turned into a 400 at the top level."""


def _fields(raw: list[dict[str, Any]] | None) -> dict[str, FieldSpec]:
    return {f["name"]: FieldSpec(f["name"], tuple(f["types"]), bool(f["required"])) for f in raw or []}


def _discriminator(raw: list[dict[str, Any]] | None) -> tuple[str, str] | None:
    for f in raw or []:
        if f["name"] in ("type", "status", "source") and f["required"]:
            description = f.get("description", "")
            if isinstance(description, list):
                description = " ".join(description)
            match = _DISCRIMINATOR_RE.search(str(description))
            if match:
                return f["name"], match.group(1)
    return None


class BotApiSpec:
    """The parsed spec plus the validator used by the sandbox server."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version: str = str(data.get("version", ""))
        self.methods: dict[str, MethodSpec] = {
            name: MethodSpec(name, _fields(m.get("fields")), tuple(m.get("returns", [])))
            for name, m in data["methods"].items()
        }
        self.types: dict[str, TypeSpec] = {}
        for name, t in data["types"].items():
            fields = _fields(t.get("fields"))
            self.types[name] = TypeSpec(
                name,
                fields,
                tuple(t.get("subtypes", [])),
                _discriminator(t.get("fields")),
            )
        # Telegram matches method names case-insensitively.
        self._by_lower = {name.lower(): name for name in self.methods}

    def canonical_method(self, name: str) -> str | None:
        return self._by_lower.get(name.lower())

    def validate_call(
        self,
        method: str,
        params: Mapping[str, Any],
        files: Mapping[str, UploadedFile] | None = None,
    ) -> dict[str, Any]:
        """Check a call against the spec and return its parameters with proper Python types.

        ``params`` may hold strings from a form (``"123"``, ``"true"``, JSON text for objects)
        or native JSON values. Raises :class:`ApiError` like Telegram would (404 for an unknown
        method, 400 otherwise). File parts are matched to ``attach://<name>`` references.
        """
        canonical = self.canonical_method(method)
        if canonical is None:
            raise not_found()
        spec = self.methods[canonical]
        files = dict(files or {})
        merged: dict[str, Any] = dict(params)
        for name, upload in files.items():
            if name in spec.fields and name not in merged:
                merged[name] = upload

        allowed_legacy = {
            name: types for name, (successor, types) in _LEGACY_PARAMETERS.items() if successor in spec.fields
        }
        for name in merged:
            if name not in spec.fields and name not in allowed_legacy:
                raise bad_request(f'unknown parameter "{name}"')

        for fs in spec.fields.values():
            if fs.required and _is_absent(merged.get(fs.name)):
                detail = _MISSING_TEXT_MESSAGES.get((canonical, fs.name), f"{fs.name} is empty")
                raise bad_request(detail)

        used_files: set[str] = {n for n, v in merged.items() if isinstance(v, UploadedFile)}
        result: dict[str, Any] = {}
        for name, raw in merged.items():
            if _is_absent(raw):
                continue
            fs = spec.fields.get(name) or FieldSpec(name, allowed_legacy[name], False)
            result[name] = self._top_level(fs, raw, files, used_files)

        for name in files:
            if name not in used_files:
                raise bad_request(f'unknown parameter "{name}"')
        return result

    def _top_level(
        self,
        fs: FieldSpec,
        raw: Any,
        files: Mapping[str, UploadedFile],
        used_files: set[str],
    ) -> Any:
        if "InputFile" in fs.types:
            if isinstance(raw, UploadedFile):
                return raw
            if isinstance(raw, str) and raw.startswith("attach://"):
                part = raw.removeprefix("attach://")
                if part not in files:
                    raise bad_request(f'file part "{part}" referenced by {fs.name} is missing')
                used_files.add(part)
                return files[part]
            if "String" in fs.types and isinstance(raw, str):
                return raw
            raise bad_request(f'parameter "{fs.name}" must be an uploaded file or a file_id')
        if isinstance(raw, UploadedFile):
            raise bad_request(f'parameter "{fs.name}" must not be a file upload')
        errors: list[str] = []
        for type_name in fs.types:
            value = raw
            if isinstance(raw, str) and not _is_scalar(type_name):
                try:
                    value = json.loads(raw)
                except ValueError:
                    raise bad_request(f"can't parse {fs.name} JSON object") from None
            try:
                return self._coerce(value, type_name, fs.name)
            except _Mismatch as exc:
                errors.append(str(exc))
        if len(fs.types) == 1 or all(_is_scalar(t) for t in fs.types):
            if all(_is_scalar(t) for t in fs.types):
                expected = " or ".join(fs.types)
                raise bad_request(f'parameter "{fs.name}" must be {expected}')
            raise bad_request(f"can't parse {fs.name}: {errors[0]}")
        raise bad_request(f"can't parse {fs.name}: {self._best_union_error(raw, fs, errors)}")

    def _best_union_error(self, raw: Any, fs: FieldSpec, errors: list[str]) -> str:
        """Pick the error of the union member the caller most likely meant."""
        value = raw
        if isinstance(raw, str):
            try:
                value = json.loads(raw)
            except ValueError:
                return errors[0]
        if isinstance(value, dict):
            for type_name, error in zip(fs.types, errors, strict=True):
                spec = self.types.get(type_name)
                if spec and any(f.required and f.name in value for f in spec.fields.values()):
                    return error
        return f"value matches none of {', '.join(fs.types)}"

    def _coerce(self, value: Any, type_name: str, path: str) -> Any:
        if type_name.startswith("Array of "):
            if not isinstance(value, list):
                raise _Mismatch(f'field "{path}" must be an array')
            inner = type_name.removeprefix("Array of ")
            return [self._coerce(item, inner, f"{path}[{i}]") for i, item in enumerate(value)]
        if type_name == "Integer":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
                return int(value)
            raise _Mismatch(f'field "{path}" must be Integer')
        if type_name == "Float":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, str) and _FLOAT_RE.fullmatch(value.strip()):
                return float(value)
            raise _Mismatch(f'field "{path}" must be Float')
        if type_name == "Boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _BOOL_STRINGS:
                return _BOOL_STRINGS[value.strip().lower()]
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise _Mismatch(f'field "{path}" must be Boolean')
        if type_name == "String":
            if isinstance(value, str):
                return value
            # Telegram stringifies JSON numbers passed where a string is expected.
            if isinstance(value, int | float) and not isinstance(value, bool):
                return str(value)
            raise _Mismatch(f'field "{path}" must be String')
        if type_name == "InputFile":
            if isinstance(value, str):
                return value
            raise _Mismatch(f'field "{path}" must be a file reference')
        spec = self.types.get(type_name)
        if spec is None:
            raise _Mismatch(f'field "{path}" has unknown type {type_name}')
        return self._coerce_object(value, spec, path)

    def _coerce_object(self, value: Any, spec: TypeSpec, path: str) -> Any:
        if spec.subtypes:
            if isinstance(value, dict):
                for sub_name in spec.subtypes:
                    sub = self.types.get(sub_name)
                    if sub and sub.discriminator and (value.get(sub.discriminator[0]) == sub.discriminator[1]):
                        return self._coerce_object(value, sub, path)
            errors: list[str] = []
            for sub_name in spec.subtypes:
                sub = self.types.get(sub_name)
                if sub is not None and sub.discriminator:
                    continue
                try:
                    return self._coerce(value, sub_name, path)
                except _Mismatch as exc:
                    errors.append(str(exc))
            raise _Mismatch(errors[0] if errors else f'field "{path}" is not a valid {spec.name}')
        if not isinstance(value, dict):
            raise _Mismatch(f'field "{path}" must be a {spec.name} object')
        result: dict[str, Any] = {}
        for key in value:
            if key not in spec.fields:
                raise _Mismatch(f'unknown field "{_join(path, key)}" in {spec.name}')
        for fs in spec.fields.values():
            if fs.name not in value or value[fs.name] is None:
                if fs.required:
                    raise _Mismatch(f'field "{_join(path, fs.name)}" is required in {spec.name}')
                continue
            field_errors: list[str] = []
            for type_name in fs.types:
                try:
                    result[fs.name] = self._coerce(value[fs.name], type_name, _join(path, fs.name))
                    break
                except _Mismatch as exc:
                    field_errors.append(str(exc))
            else:
                raise _Mismatch(field_errors[0])
        if spec.discriminator and result.get(spec.discriminator[0]) != spec.discriminator[1]:
            raise _Mismatch(f'field "{_join(path, spec.discriminator[0])}" must be "{spec.discriminator[1]}"')
        if spec.name == "InlineKeyboardButton":
            _check_inline_button(result)
        elif spec.name == "KeyboardButton" and not result.get("text"):
            raise bad_request("text of a keyboard button must be non-empty")
        return result


def _check_inline_button(button: Mapping[str, Any]) -> None:
    # Telegram reports these with its own error codes rather than as JSON errors;
    # ApiError escapes the union matching so the specific message reaches the bot.
    if not button.get("text"):
        raise bad_request("BUTTON_TEXT_INVALID")
    actions = [k for k in button if k not in _BUTTON_DECORATIONS]
    if not actions:
        raise bad_request("text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise bad_request(
            "inline keyboard button must have exactly one action field, got " + ", ".join(sorted(actions))
        )
    data = button.get("callback_data")
    if data is not None and not 1 <= len(str(data).encode("utf-8")) <= CALLBACK_DATA_LIMIT:
        raise bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None:
        parts = urlsplit(str(url))
        if parts.scheme not in ("http", "https", "tg") or not (parts.netloc or parts.path):
            raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def _is_absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def _is_scalar(type_name: str) -> bool:
    return type_name in ("Integer", "Float", "Boolean", "String", "InputFile")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@cache
def load_spec() -> BotApiSpec:
    """The spec shipped next to this module, parsed once per process."""
    with SPEC_PATH.open(encoding="utf-8") as fh:
        return BotApiSpec(json.load(fh))
