"""The catalogue file (seed, import, export): its YAML format, read with every problem named by its line, and written.

No words for people here: a problem is a kind and its details (`FileProblem`); the handlers' layer words it in
the reader's language (`handlers.catalogue_problems.describe`). No database either: `bot.services.catalogue`
makes the catalogue what a file says, and gives this module what an export writes.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# The limits of every title, description and key, in the file and in the chat's edits alike.
TITLE_MAX = 120
# A service's short title, the one its button shows (optional; the button cuts the title at a word without it).
SHORT_TITLE_MAX = 40
DESCRIPTION_MAX = 2000
KEY_MAX = 64

_KEY = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def tidy_title(raw: str | None) -> str:
    """A title on one line, spaces tidied (empty when there is nothing)."""
    return " ".join((raw or "").split())


def tidy_description(raw: str | None) -> str:
    """A description keeps its lines; spaces at their ends and blank lines around it go."""
    return "\n".join(line.rstrip() for line in (raw or "").strip().splitlines())


@dataclass(frozen=True)
class ServiceTexts:
    title_ro: str
    title_en: str
    description_ro: str
    description_en: str
    short_title_ro: str | None = None
    short_title_en: str | None = None


@dataclass(frozen=True)
class ServiceEntry:
    key: str
    texts: ServiceTexts
    hidden: bool
    # Where it starts in the file it was read from (0: not read from a file).
    line: int = 0


@dataclass(frozen=True)
class CategoryEntry:
    key: str
    title_ro: str
    title_en: str
    hidden: bool
    services: tuple[ServiceEntry, ...]
    line: int = 0


# --- problems ------------------------------------------------------------------------------------------------------


class ProblemKind(enum.StrEnum):
    """What is wrong with a part of a catalogue file."""

    INVALID_YAML = "invalid_yaml"  # params: detail (the YAML library's own words, kept as data)
    EMPTY_FILE = "empty_file"
    CATEGORIES_NOT_LIST = "categories_not_list"
    SERVICES_NOT_LIST = "services_not_list"  # where, key
    HIDDEN_NOT_BOOL = "hidden_not_bool"
    CATEGORY_KEY_NOT_WORD = "category_key_not_word"
    SERVICE_KEY_NOT_WORD = "service_key_not_word"
    KEY_FORMAT = "key_format"  # key, limit
    CATEGORY_KEY_TWICE = "category_key_twice"  # key, first (the line that has it already)
    SERVICE_KEY_TWICE = "service_key_twice"  # key, first
    # The fields of a part (where, key): fields are the known ones, name the one found.
    NOT_MAPPING = "not_mapping"  # fields
    UNKNOWN_FIELD = "unknown_field"  # name, fields
    FIELD_TWICE = "field_twice"  # name
    FIELD_MISSING = "field_missing"  # name
    # The text of a title or description in one language (where, key, language).
    TEXT_MISSING = "text_missing"
    NOT_TEXT = "not_text"
    TEXT_EMPTY = "text_empty"
    TEXT_TOO_LONG = "text_too_long"  # length, limit


class Part(enum.StrEnum):
    """The part of the file a problem is in (`params["where"]`)."""

    CATALOGUE = "catalogue"
    CATEGORY = "category"
    SERVICE = "service"
    CATEGORY_TITLE = "category title"
    SERVICE_TITLE = "service title"
    SERVICE_SHORT_TITLE = "service short title"
    SERVICE_DESCRIPTION = "service description"


@dataclass(frozen=True)
class FileProblem:
    """One problem of a catalogue file: its line, what is wrong (`kind`) and its details, never words.

    `params["where"]` names the part of the file (`Part`) and `params["key"]` the key of the entry it is in
    (None: no key yet, "a service"); the other details of each kind are listed at `ProblemKind`. Languages
    are codes ("ro", "en"), field names are the file's own.
    """

    line: int
    kind: ProblemKind
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        """For logs, not for people: "line 3: text_missing (where=category title, key=a, language=en)"."""
        details = ", ".join(f"{name}={value}" for name, value in self.params.items())
        return f"line {self.line}: {self.kind.value}" + (f" ({details})" if details else "")


class CatalogueFileError(Exception):
    """A catalogue file that cannot be loaded; `problems` says what is wrong, each with its line.

    Its `str()` is a technical summary for logs; people read `handlers.catalogue_problems.describe`.
    """

    def __init__(self, problems: Sequence[FileProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


# --- reading -------------------------------------------------------------------------------------------------------


_CATALOGUE_FIELDS = ("categories",)
_CATEGORY_FIELDS = ("key", "title", "hidden", "services")
_SERVICE_FIELDS = ("key", "title", "short_title", "description", "hidden")
_LANGUAGES = ("ro", "en")
_KEY_NOT_WORD = {Part.CATEGORY: ProblemKind.CATEGORY_KEY_NOT_WORD, Part.SERVICE: ProblemKind.SERVICE_KEY_NOT_WORD}
_KEY_TWICE = {Part.CATEGORY: ProblemKind.CATEGORY_KEY_TWICE, Part.SERVICE: ProblemKind.SERVICE_KEY_TWICE}


def _named(key: Node | None) -> str | None:
    """The key a problem names the entry it is in by; None before its key is known ("a service")."""
    return str(key.value) if isinstance(key, ScalarNode) and key.value else None


class _FileReader:
    """Walks the YAML node tree, so that every problem can name the line it is on."""

    def __init__(self) -> None:
        self.problems: list[FileProblem] = []
        self.category_keys: dict[str, int] = {}
        self.service_keys: dict[str, int] = {}

    def problem(self, node: Node, kind: ProblemKind, **params: Any) -> None:
        self.problems.append(FileProblem(node.start_mark.line + 1, kind, params))

    def fields(
        self, node: Node, where: Part, known: Sequence[str], required: Sequence[str], key: str | None = None
    ) -> dict[str, Node] | None:
        if not isinstance(node, MappingNode):
            self.problem(node, ProblemKind.NOT_MAPPING, where=where, key=key, fields=tuple(known))
            return None
        found: dict[str, Node] = {}
        for key_node, value_node in node.value:
            name = str(key_node.value) if isinstance(key_node, ScalarNode) else None
            if name is None or name not in known:
                self.problem(key_node, ProblemKind.UNKNOWN_FIELD, where=where, key=key, name=name, fields=tuple(known))
            elif name in found:
                self.problem(key_node, ProblemKind.FIELD_TWICE, where=where, key=key, name=name)
            else:
                found[name] = value_node
        for name in required:
            if name not in found:
                self.problem(node, ProblemKind.FIELD_MISSING, where=where, key=key, name=name)
        return found

    def key(self, node: Node, owner: Part, seen: dict[str, int]) -> str | None:
        if not isinstance(node, ScalarNode) or not node.value:
            self.problem(node, _KEY_NOT_WORD[owner])
            return None
        key = str(node.value)
        if len(key) > KEY_MAX or not _KEY.fullmatch(key):
            self.problem(node, ProblemKind.KEY_FORMAT, key=key, limit=KEY_MAX)
            return None
        line = node.start_mark.line + 1
        if key in seen:
            self.problem(node, _KEY_TWICE[owner], key=key, first=seen[key])
            return None
        seen[key] = line
        return key

    def texts(self, node: Node | None, where: Part, key: str | None) -> dict[str, str]:
        """{"ro": ..., "en": ...} of a title or description, tidied; what is missing or wrong is left out."""
        if node is None:
            return {}
        fields = self.fields(node, where, _LANGUAGES, (), key)
        if fields is None:
            return {}
        description = where is Part.SERVICE_DESCRIPTION
        limit = DESCRIPTION_MAX if description else SHORT_TITLE_MAX if where is Part.SERVICE_SHORT_TITLE else TITLE_MAX
        texts = {}
        for language in _LANGUAGES:
            value = fields.get(language)
            if value is None:
                self.problem(node, ProblemKind.TEXT_MISSING, where=where, key=key, language=language)
                continue
            if not isinstance(value, ScalarNode) or value.tag == "tag:yaml.org,2002:null":
                self.problem(value, ProblemKind.NOT_TEXT, where=where, key=key, language=language)
                continue
            text = tidy_description(value.value) if description else tidy_title(value.value)
            if not text:
                self.problem(value, ProblemKind.TEXT_EMPTY, where=where, key=key, language=language)
            elif len(text) > limit:
                too_long = {"length": len(text), "limit": limit}
                self.problem(value, ProblemKind.TEXT_TOO_LONG, where=where, key=key, language=language, **too_long)
            else:
                texts[language] = text
        return texts

    def hidden(self, node: Node | None) -> bool:
        if node is None:
            return False
        if not isinstance(node, ScalarNode) or node.tag != "tag:yaml.org,2002:bool":
            self.problem(node, ProblemKind.HIDDEN_NOT_BOOL)
            return False
        return bool(yaml.safe_load(node.value))

    def catalogue(self, root: Node | None) -> list[CategoryEntry]:
        if root is None:
            self.problems.append(FileProblem(1, ProblemKind.EMPTY_FILE, {}))
            return []
        fields = self.fields(root, Part.CATALOGUE, _CATALOGUE_FIELDS, _CATALOGUE_FIELDS)
        if fields is None or "categories" not in fields:
            return []
        items = fields["categories"]
        if not isinstance(items, SequenceNode):
            self.problem(items, ProblemKind.CATEGORIES_NOT_LIST)
            return []
        return [entry for node in items.value if (entry := self.category(node)) is not None]

    def category(self, node: Node) -> CategoryEntry | None:
        fields = self.fields(node, Part.CATEGORY, _CATEGORY_FIELDS, ("key", "title"))
        if fields is None:
            return None
        key = self.key(fields["key"], Part.CATEGORY, self.category_keys) if "key" in fields else None
        named = _named(fields.get("key"))
        title = self.texts(fields.get("title"), Part.CATEGORY_TITLE, named)
        hidden = self.hidden(fields.get("hidden"))
        services: list[ServiceEntry] = []
        items = fields.get("services")
        if items is not None and not (isinstance(items, ScalarNode) and items.tag == "tag:yaml.org,2002:null"):
            if isinstance(items, SequenceNode):
                services = [entry for item in items.value if (entry := self.service(item)) is not None]
            else:
                self.problem(items, ProblemKind.SERVICES_NOT_LIST, where=Part.CATEGORY, key=named)
        if key is None or len(title) < 2:
            return None
        return CategoryEntry(key, title["ro"], title["en"], hidden, tuple(services), node.start_mark.line + 1)

    def service(self, node: Node) -> ServiceEntry | None:
        fields = self.fields(node, Part.SERVICE, _SERVICE_FIELDS, ("key", "title", "description"))
        if fields is None:
            return None
        key = self.key(fields["key"], Part.SERVICE, self.service_keys) if "key" in fields else None
        named = _named(fields.get("key"))
        title = self.texts(fields.get("title"), Part.SERVICE_TITLE, named)
        description = self.texts(fields.get("description"), Part.SERVICE_DESCRIPTION, named)
        short_title = self.texts(fields.get("short_title"), Part.SERVICE_SHORT_TITLE, named)
        hidden = self.hidden(fields.get("hidden"))
        if key is None or len(title) < 2 or len(description) < 2:
            return None
        if "short_title" in fields and len(short_title) < 2:
            return None
        texts = ServiceTexts(
            title["ro"],
            title["en"],
            description["ro"],
            description["en"],
            short_title.get("ro"),
            short_title.get("en"),
        )
        return ServiceEntry(key, texts, hidden, node.start_mark.line + 1)


def parse_catalogue(text: str) -> list[CategoryEntry]:
    """The categories and services of a catalogue file; CatalogueFileError lists every problem with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        detail = error.problem or error.context
        raise CatalogueFileError([FileProblem(line, ProblemKind.INVALID_YAML, {"detail": detail})]) from None
    except yaml.YAMLError as error:
        raise CatalogueFileError([FileProblem(1, ProblemKind.INVALID_YAML, {"detail": str(error)})]) from None
    reader = _FileReader()
    entries = reader.catalogue(root)
    if reader.problems:
        raise CatalogueFileError(reader.problems)
    return entries


def load_catalogue_file(path: Path) -> list[CategoryEntry]:
    return parse_catalogue(path.read_text(encoding="utf-8-sig"))


# --- writing -------------------------------------------------------------------------------------------------------


class _ExportDumper(yaml.SafeDumper):
    """Descriptions with several lines are written as blocks, the way people write them by hand."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ExportDumper.add_representer(str, _represent_text)

EXPORT_HEADER = (
    "# The cluster's services catalogue. Edit it and load it back: in the chat with 📥 Import a file\n"
    "# (managers, on the services screen), or with: clusterbot catalogue import FILE\n"
    "# The order in the file is the order members see; 'hidden: true' hides an entry; keys never change.\n"
    f"# Every title and description in Romanian (ro) and English (en); titles at most {TITLE_MAX} characters,\n"
    f"# descriptions at most {DESCRIPTION_MAX}; a service's short_title (its button) at most {SHORT_TITLE_MAX}.\n"
)


def write_catalogue(entries: Sequence[CategoryEntry]) -> str:
    """The file of these categories and services, in their order, in the format `parse_catalogue` reads."""
    document: list[dict[str, Any]] = []
    for category in entries:
        item: dict[str, Any] = {"key": category.key, "title": {"ro": category.title_ro, "en": category.title_en}}
        if category.hidden:
            item["hidden"] = True
        services = []
        for service in category.services:
            texts = service.texts
            entry: dict[str, Any] = {
                "key": service.key,
                "title": {"ro": texts.title_ro, "en": texts.title_en},
            }
            if texts.short_title_ro and texts.short_title_en:
                entry["short_title"] = {"ro": texts.short_title_ro, "en": texts.short_title_en}
            entry |= {
                "description": {"ro": texts.description_ro, "en": texts.description_en},
            }
            if service.hidden:
                entry["hidden"] = True
            services.append(entry)
        item["services"] = services
        document.append(item)
    body = yaml.dump({"categories": document}, Dumper=_ExportDumper, allow_unicode=True, sort_keys=False, width=10_000)
    return EXPORT_HEADER + body
