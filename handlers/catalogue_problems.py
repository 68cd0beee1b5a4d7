"""The problems of a catalogue file in words, in the reader's language: the chat's import and the CLI's.

The service (`bot.services.catalogue_file`) says what is wrong and where, as a kind and its details; this module
is the only place that words them. It translates in the current locale (aiogram's I18n context: the update's
person in the chat; the CLI sets English).
"""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from bot.services.catalogue_file import FileProblem, Part, ProblemKind


def describe(problem: FileProblem) -> str:
    """One problem in the current language: "line 13: the title of service 'x' has no English text (en:)"."""
    return _("line {line}: {problem}").format(line=problem.line, problem=_problem_text(problem))


def _problem_text(problem: FileProblem) -> str:
    params = problem.params
    kind = problem.kind
    if kind is ProblemKind.INVALID_YAML:
        # The YAML library's own detail is data: it stays as it is.
        return _("this is not valid YAML") + f": {params['detail']}"
    simple = {
        ProblemKind.EMPTY_FILE: _("the file is empty; it should start with 'categories:'"),
        ProblemKind.CATEGORIES_NOT_LIST: _("categories should be a list, each item starting with '- key:'"),
        ProblemKind.HIDDEN_NOT_BOOL: _("hidden should be true or false"),
        ProblemKind.CATEGORY_KEY_NOT_WORD: _("the key of a category should be a word like 'eu-funding'"),
        ProblemKind.SERVICE_KEY_NOT_WORD: _("the key of a service should be a word like 'eu-funding'"),
        ProblemKind.KEY_FORMAT: _(
            "the key {key} should be lower-case letters, digits and dashes (at most {limit}), like 'eu-funding'"
        ),
        ProblemKind.CATEGORY_KEY_TWICE: _("duplicate category key {key}: line {first} has it already"),
        ProblemKind.SERVICE_KEY_TWICE: _("duplicate service key {key}: line {first} has it already"),
    }
    key = params.get("key")
    values = {
        "key": repr(key),
        "name": repr(params.get("name")),
        "field": params.get("name", ""),
        "fields": ", ".join(params.get("fields", ())),
        "limit": params.get("limit", ""),
        "first": params.get("first", ""),
        "length": params.get("length", ""),
        "code": params.get("language", ""),
        "language": {"ro": _("Romanian"), "en": _("English")}.get(params.get("language", ""), ""),
    }
    if kind in simple:
        return simple[kind].format(**values)
    K, P = ProblemKind, Part
    # By kind, part of the file and whether the entry's key is known ("service 'x'") or not yet ("a service").
    messages: dict[tuple[ProblemKind, Part, bool], str] = {
        (K.SERVICES_NOT_LIST, P.CATEGORY, True): _(
            "the services of category {key} should be a list, each item starting with '- key:'"
        ),
        (K.SERVICES_NOT_LIST, P.CATEGORY, False): _(
            "the services of a category should be a list, each item starting with '- key:'"
        ),
        # The fields of a part of the file.
        (K.NOT_MAPPING, P.CATALOGUE, False): _("the catalogue should have the fields {fields}"),
        (K.UNKNOWN_FIELD, P.CATALOGUE, False): _("unknown field {name} in the catalogue; the fields are: {fields}"),
        (K.FIELD_TWICE, P.CATALOGUE, False): _("{name} is given twice in the catalogue"),
        (K.FIELD_MISSING, P.CATALOGUE, False): _("the catalogue has no {field}"),
        (K.NOT_MAPPING, P.CATEGORY, False): _("a category should have the fields {fields}"),
        (K.UNKNOWN_FIELD, P.CATEGORY, False): _("unknown field {name} in a category; the fields are: {fields}"),
        (K.FIELD_TWICE, P.CATEGORY, False): _("{name} is given twice in a category"),
        (K.FIELD_MISSING, P.CATEGORY, False): _("a category has no {field}"),
        (K.NOT_MAPPING, P.SERVICE, False): _("a service should have the fields {fields}"),
        (K.UNKNOWN_FIELD, P.SERVICE, False): _("unknown field {name} in a service; the fields are: {fields}"),
        (K.FIELD_TWICE, P.SERVICE, False): _("{name} is given twice in a service"),
        (K.FIELD_MISSING, P.SERVICE, False): _("a service has no {field}"),
        (K.NOT_MAPPING, P.CATEGORY_TITLE, True): _("the title of category {key} should have the fields {fields}"),
        (K.NOT_MAPPING, P.CATEGORY_TITLE, False): _("the title of a category should have the fields {fields}"),
        (K.NOT_MAPPING, P.SERVICE_TITLE, True): _("the title of service {key} should have the fields {fields}"),
        (K.NOT_MAPPING, P.SERVICE_TITLE, False): _("the title of a service should have the fields {fields}"),
        (K.NOT_MAPPING, P.SERVICE_DESCRIPTION, True): _(
            "the description of service {key} should have the fields {fields}"
        ),
        (K.NOT_MAPPING, P.SERVICE_DESCRIPTION, False): _(
            "the description of a service should have the fields {fields}"
        ),
        (K.UNKNOWN_FIELD, P.CATEGORY_TITLE, True): _(
            "unknown field {name} in the title of category {key}; the fields are: {fields}"
        ),
        (K.UNKNOWN_FIELD, P.CATEGORY_TITLE, False): _(
            "unknown field {name} in the title of a category; the fields are: {fields}"
        ),
        (K.UNKNOWN_FIELD, P.SERVICE_TITLE, True): _(
            "unknown field {name} in the title of service {key}; the fields are: {fields}"
        ),
        (K.UNKNOWN_FIELD, P.SERVICE_TITLE, False): _(
            "unknown field {name} in the title of a service; the fields are: {fields}"
        ),
        (K.UNKNOWN_FIELD, P.SERVICE_DESCRIPTION, True): _(
            "unknown field {name} in the description of service {key}; the fields are: {fields}"
        ),
        (K.UNKNOWN_FIELD, P.SERVICE_DESCRIPTION, False): _(
            "unknown field {name} in the description of a service; the fields are: {fields}"
        ),
        (K.FIELD_TWICE, P.CATEGORY_TITLE, True): _("{name} is given twice in the title of category {key}"),
        (K.FIELD_TWICE, P.CATEGORY_TITLE, False): _("{name} is given twice in the title of a category"),
        (K.FIELD_TWICE, P.SERVICE_TITLE, True): _("{name} is given twice in the title of service {key}"),
        (K.FIELD_TWICE, P.SERVICE_TITLE, False): _("{name} is given twice in the title of a service"),
        (K.FIELD_TWICE, P.SERVICE_DESCRIPTION, True): _("{name} is given twice in the description of service {key}"),
        (K.FIELD_TWICE, P.SERVICE_DESCRIPTION, False): _("{name} is given twice in the description of a service"),
        # The texts of a title or description, in one language.
        (K.TEXT_MISSING, P.CATEGORY_TITLE, True): _("the title of category {key} has no {language} text ({code}:)"),
        (K.TEXT_MISSING, P.CATEGORY_TITLE, False): _("the title of a category has no {language} text ({code}:)"),
        (K.TEXT_MISSING, P.SERVICE_TITLE, True): _("the title of service {key} has no {language} text ({code}:)"),
        (K.TEXT_MISSING, P.SERVICE_TITLE, False): _("the title of a service has no {language} text ({code}:)"),
        (K.TEXT_MISSING, P.SERVICE_DESCRIPTION, True): _(
            "the description of service {key} has no {language} text ({code}:)"
        ),
        (K.TEXT_MISSING, P.SERVICE_DESCRIPTION, False): _(
            "the description of a service has no {language} text ({code}:)"
        ),
        (K.NOT_TEXT, P.CATEGORY_TITLE, True): _("the {language} title of category {key} should be text"),
        (K.NOT_TEXT, P.CATEGORY_TITLE, False): _("the {language} title of a category should be text"),
        (K.NOT_TEXT, P.SERVICE_TITLE, True): _("the {language} title of service {key} should be text"),
        (K.NOT_TEXT, P.SERVICE_TITLE, False): _("the {language} title of a service should be text"),
        (K.NOT_TEXT, P.SERVICE_DESCRIPTION, True): _("the {language} description of service {key} should be text"),
        (K.NOT_TEXT, P.SERVICE_DESCRIPTION, False): _("the {language} description of a service should be text"),
        (K.TEXT_EMPTY, P.CATEGORY_TITLE, True): _("the {language} title of category {key} is empty"),
        (K.TEXT_EMPTY, P.CATEGORY_TITLE, False): _("the {language} title of a category is empty"),
        (K.TEXT_EMPTY, P.SERVICE_TITLE, True): _("the {language} title of service {key} is empty"),
        (K.TEXT_EMPTY, P.SERVICE_TITLE, False): _("the {language} title of a service is empty"),
        (K.TEXT_EMPTY, P.SERVICE_DESCRIPTION, True): _("the {language} description of service {key} is empty"),
        (K.TEXT_EMPTY, P.SERVICE_DESCRIPTION, False): _("the {language} description of a service is empty"),
        (K.TEXT_TOO_LONG, P.CATEGORY_TITLE, True): _(
            "the {language} title of category {key} is {length} characters long; at most {limit}"
        ),
        (K.TEXT_TOO_LONG, P.CATEGORY_TITLE, False): _(
            "the {language} title of a category is {length} characters long; at most {limit}"
        ),
        (K.TEXT_TOO_LONG, P.SERVICE_TITLE, True): _(
            "the {language} title of service {key} is {length} characters long; at most {limit}"
        ),
        (K.TEXT_TOO_LONG, P.SERVICE_TITLE, False): _(
            "the {language} title of a service is {length} characters long; at most {limit}"
        ),
        (K.TEXT_TOO_LONG, P.SERVICE_DESCRIPTION, True): _(
            "the {language} description of service {key} is {length} characters long; at most {limit}"
        ),
        (K.TEXT_TOO_LONG, P.SERVICE_DESCRIPTION, False): _(
            "the {language} description of a service is {length} characters long; at most {limit}"
        ),
        # A service's short title (its button), optional.
        (K.NOT_MAPPING, P.SERVICE_SHORT_TITLE, True): _(
            "the short title of service {key} should have the fields {fields}"
        ),
        (K.NOT_MAPPING, P.SERVICE_SHORT_TITLE, False): _(
            "the short title of a service should have the fields {fields}"
        ),
        (K.UNKNOWN_FIELD, P.SERVICE_SHORT_TITLE, True): _(
            "unknown field {name} in the short title of service {key}; the fields are: {fields}"
        ),
        (K.UNKNOWN_FIELD, P.SERVICE_SHORT_TITLE, False): _(
            "unknown field {name} in the short title of a service; the fields are: {fields}"
        ),
        (K.FIELD_TWICE, P.SERVICE_SHORT_TITLE, True): _("{name} is given twice in the short title of service {key}"),
        (K.FIELD_TWICE, P.SERVICE_SHORT_TITLE, False): _("{name} is given twice in the short title of a service"),
        (K.TEXT_MISSING, P.SERVICE_SHORT_TITLE, True): _(
            "the short title of service {key} has no {language} text ({code}:)"
        ),
        (K.TEXT_MISSING, P.SERVICE_SHORT_TITLE, False): _(
            "the short title of a service has no {language} text ({code}:)"
        ),
        (K.NOT_TEXT, P.SERVICE_SHORT_TITLE, True): _("the {language} short title of service {key} should be text"),
        (K.NOT_TEXT, P.SERVICE_SHORT_TITLE, False): _("the {language} short title of a service should be text"),
        (K.TEXT_EMPTY, P.SERVICE_SHORT_TITLE, True): _("the {language} short title of service {key} is empty"),
        (K.TEXT_EMPTY, P.SERVICE_SHORT_TITLE, False): _("the {language} short title of a service is empty"),
        (K.TEXT_TOO_LONG, P.SERVICE_SHORT_TITLE, True): _(
            "the {language} short title of service {key} is {length} characters long; at most {limit}"
        ),
        (K.TEXT_TOO_LONG, P.SERVICE_SHORT_TITLE, False): _(
            "the {language} short title of a service is {length} characters long; at most {limit}"
        ),
    }
    return messages[(kind, params["where"], key is not None)].format(**values)
