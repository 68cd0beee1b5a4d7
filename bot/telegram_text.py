"""Telegram's rules for message text: HTML parse_mode into plain text and entities, lengths in UTF-16, limits.

One module for the sandbox (which answers as Telegram would), the outbox (which refuses what Telegram would
refuse before anything is queued) and the handlers (which cut what they render to fit); it imports no aiogram.
"""

# The HTML parser follows Telegram's own (tag set, attribute syntax, error texts with UTF-8
# byte offsets, UTF-16 entity offsets) with one deliberate difference: an "&" that does not
# start &lt; &gt; &amp; &quot; &#NNN; or &#xHH; is an error, where Telegram keeps it as a
# literal. That catches user input interpolated without html.escape, which would otherwise
# only show up once somebody types "&lt;".
# Markdown and MarkdownV2 are rejected: the project formats with HTML only, and a
# half-faithful Markdown parser would hide mistakes instead of catching them.

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# After entity parsing and trimming, in UTF-16 code units (what `utf16_len` counts).
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
# Bytes of UTF-8.
CALLBACK_DATA_LIMIT = 64
# What an inline button does when pressed: each button has exactly one of these.
INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)

_SPACES = " \t\r\n\f\v"
# Telegram trims these from both ends of a message text or caption.
_TRIM = " \t\r\n"
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
}
_SUPPORTED_TAGS = frozenset(_SIMPLE_TAGS) | {"a", "span", "pre", "blockquote", "tg-emoji"}


class EntityParseError(ValueError):
    """Formatted text that Telegram would refuse; the message is Telegram's wording."""


class UnsupportedParseMode(ValueError):
    """A parse_mode this module does not implement (Markdown) or Telegram does not know."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int


class _HtmlParser:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.out: list[str] = []
        self.u16 = 0
        self.open: list[_OpenTag] = []
        self.entities: list[dict[str, Any]] = []

    def char(self, index: int) -> str:
        return self.src[index] if index < len(self.src) else ""

    def byte_offset(self, index: int) -> int:
        return len(self.src[:index].encode("utf-8"))

    def fail(self, message: str) -> EntityParseError:
        return EntityParseError(f"can't parse entities: {message}")

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.u16 += utf16_len(text)

    def run(self) -> tuple[str, list[dict[str, Any]]]:
        src = self.src
        while self.pos < len(src):
            ch = src[self.pos]
            if ch == "&":
                self.emit(self.entity())
            elif ch == "<":
                if self.char(self.pos + 1) == "/":
                    self.end_tag()
                else:
                    self.start_tag()
            else:
                end = self.pos
                while end < len(src) and src[end] not in "&<":
                    end += 1
                self.emit(src[self.pos : end])
                self.pos = end
        if self.open:
            raise self.fail(f'Can\'t find end tag corresponding to start tag "{self.open[-1].name}"')
        return "".join(self.out), _sorted(self.entities)

    def try_entity(self, start: int) -> tuple[str, int] | None:
        """Decode an HTML entity at ``start`` (the ``&``); return (character, next index)."""
        src = self.src
        i = start + 1
        if self.char(i) == "#":
            i += 1
            digits = "0123456789"
            base = 10
            if self.char(i) in ("x", "X"):
                i += 1
                digits = "0123456789abcdefABCDEF"
                base = 16
            begin = i
            while self.char(i) and self.char(i) in digits:
                i += 1
            if i == begin or self.char(i) != ";":
                return None
            code = int(src[begin:i], base)
            if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                return None
            return chr(code), i + 1
        begin = i
        while self.char(i).isascii() and self.char(i).isalpha():
            i += 1
        name = src[begin:i]
        if self.char(i) != ";" or name not in _NAMED_ENTITIES:
            return None
        return _NAMED_ENTITIES[name], i + 1

    def entity(self) -> str:
        decoded = self.try_entity(self.pos)
        if decoded is None:
            raise self.fail(
                f'Character "&" at byte offset {self.byte_offset(self.pos)} does not start '
                "a supported HTML entity; escape it as &amp;"
            )
        text, self.pos = decoded
        return text

    def start_tag(self) -> None:
        src = self.src
        begin = self.pos
        i = begin + 1
        while self.char(i) and self.char(i) not in _SPACES and self.char(i) != ">":
            i += 1
        if not self.char(i):
            raise self.fail(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        tag = src[begin + 1 : i].lower()
        if tag not in _SUPPORTED_TAGS:
            raise self.fail(f'Unsupported start tag "{tag}" at byte offset {self.byte_offset(begin)}')
        argument = ""
        while self.char(i) != ">":
            while self.char(i) and self.char(i) in _SPACES:
                i += 1
            if self.char(i) == ">":
                break
            attr_begin = i
            while self.char(i) and self.char(i) not in _SPACES and self.char(i) not in "=>":
                i += 1
            attr = src[attr_begin:i].lower()
            if not attr:
                raise self.fail(f'Empty attribute name in the tag "{tag}" at byte offset {self.byte_offset(begin)}')
            while self.char(i) and self.char(i) in _SPACES:
                i += 1
            if self.char(i) != "=":
                # Telegram documents <blockquote expandable> without a value.
                if tag == "blockquote" and attr == "expandable" and self.char(i):
                    argument = "expandable"
                    continue
                if not self.char(i):
                    raise self.fail(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
                raise self.fail(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                    f"at byte offset {self.byte_offset(begin)}"
                )
            i += 1
            while self.char(i) and self.char(i) in _SPACES:
                i += 1
            if not self.char(i):
                raise self.fail(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
            value, i = self.attribute_value(i)
            if not self.char(i):
                raise self.fail(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
            if tag == "a" and attr == "href":
                argument = value
            elif tag == "code" and attr == "class" and value.startswith("language-"):
                argument = value.removeprefix("language-")
            elif tag == "span" and attr == "class" and value.startswith("tg-"):
                argument = value.removeprefix("tg-")
            elif tag == "tg-emoji" and attr == "emoji-id":
                argument = value
            elif tag == "blockquote" and attr == "expandable":
                argument = "expandable"
        if tag == "span" and argument != "spoiler":
            raise self.fail(f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte_offset(begin)}')
        if tag == "tg-emoji" and not _is_int64(argument):
            raise self.fail("Invalid custom emoji identifier specified")
        self.open.append(_OpenTag(tag, argument, self.u16))
        self.pos = i + 1

    def attribute_value(self, i: int) -> tuple[str, int]:
        src = self.src
        quote = self.char(i)
        if quote not in ("'", '"'):
            begin = i
            while self.char(i) and (self.char(i).isalnum() or self.char(i) in ".-"):
                i += 1
            if self.char(i) and self.char(i) not in _SPACES and self.char(i) != ">":
                raise self.fail(f"Unexpected end of name token at byte offset {self.byte_offset(begin)}")
            return src[begin:i].lower(), i
        i += 1
        parts: list[str] = []
        while self.char(i) and self.char(i) != quote:
            if self.char(i) == "&":
                decoded = self.try_entity(i)
                if decoded is not None:
                    parts.append(decoded[0])
                    i = decoded[1]
                    continue
            parts.append(self.char(i))
            i += 1
        if self.char(i) == quote:
            i += 1
        return "".join(parts), i

    def end_tag(self) -> None:
        src = self.src
        begin = self.pos
        if not self.open:
            raise self.fail(f"Unexpected end tag at byte offset {self.byte_offset(begin)}")
        i = begin + 2
        while self.char(i) and self.char(i) not in _SPACES and self.char(i) != ">":
            i += 1
        name = src[begin + 2 : i].lower()
        while self.char(i) and self.char(i) in _SPACES:
            i += 1
        if self.char(i) != ">":
            raise self.fail(f"Unclosed end tag at byte offset {self.byte_offset(begin)}")
        top = self.open[-1]
        if name and name != top.name:
            raise self.fail(
                f"Unmatched end tag at byte offset {self.byte_offset(begin)}, expected "
                f'"</{top.name}>", found "</{name}>"'
            )
        self.open.pop()
        self.pos = i + 1
        self.close_entity(top)

    def close_entity(self, tag: _OpenTag) -> None:
        length = self.u16 - tag.utf16_offset
        if length <= 0:
            return
        entity: dict[str, Any] = {"offset": tag.utf16_offset, "length": length}
        if tag.name in _SIMPLE_TAGS:
            entity["type"] = _SIMPLE_TAGS[tag.name]
            if tag.name == "code" and tag.argument:
                # Kept so that an enclosing <pre> can turn it into a language block.
                entity["language"] = tag.argument
        elif tag.name == "span":
            entity["type"] = "spoiler"
        elif tag.name == "a":
            if not tag.argument:
                return
            entity["type"] = "text_link"
            entity["url"] = tag.argument
        elif tag.name == "tg-emoji":
            entity["type"] = "custom_emoji"
            entity["custom_emoji_id"] = tag.argument
        elif tag.name == "blockquote":
            entity["type"] = "expandable_blockquote" if tag.argument else "blockquote"
        elif tag.name == "pre":
            last = self.entities[-1] if self.entities else None
            if (
                last is not None
                and last["type"] == "code"
                and last["offset"] == tag.utf16_offset
                and last["length"] == length
                and last.get("language")
            ):
                last["type"] = "pre"
                return
            entity["type"] = "pre"
        self.entities.append(entity)


def _is_int64(text: str) -> bool:
    try:
        value = int(text)
    except ValueError:
        return False
    return value != 0 and -(2**63) <= value < 2**63


def _sorted(entities: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for entity in entities:
        clean = dict(entity)
        if clean["type"] == "code":
            clean.pop("language", None)
        result.append(clean)
    result.sort(key=lambda e: (e["offset"], -e["length"]))
    return result


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into (plain text, entities); raise :class:`EntityParseError`."""
    return _HtmlParser(source).run()


def trim(text: str, entities: Iterable[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip surrounding whitespace like Telegram does, moving and clipping entities."""
    stripped_left = text.lstrip(_TRIM)
    head = utf16_len(text) - utf16_len(stripped_left)
    result_text = stripped_left.rstrip(_TRIM)
    total = utf16_len(result_text)
    result: list[dict[str, Any]] = []
    for entity in entities:
        start = max(int(entity["offset"]) - head, 0)
        end = min(int(entity["offset"]) + int(entity["length"]) - head, total)
        if end > start:
            moved = dict(entity)
            moved["offset"] = start
            moved["length"] = end - start
            result.append(moved)
    return result_text, result


def parse_formatted(
    text: str,
    parse_mode: str | None = None,
    entities: Iterable[Mapping[str, Any]] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Apply ``parse_mode`` (or caller ``entities`` without one) and Telegram's trimming."""
    if parse_mode:
        mode = parse_mode.lower()
        if mode == "html":
            plain, found = parse_html(text)
        elif mode in ("markdown", "markdownv2"):
            raise UnsupportedParseMode(f'parse_mode "{parse_mode}" is not supported by the sandbox; use HTML')
        else:
            raise UnsupportedParseMode("unsupported parse_mode")
    else:
        plain, found = text, _sorted(dict(e) for e in entities or [])
    return trim(plain, found)
