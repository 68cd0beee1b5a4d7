"""The services catalogue's rules on SQLite and PostgreSQL: seeding, the YAML file, search, paging, requests, edits."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_i18n
from bot.services import catalogue, members
from bot.services.catalogue import CatalogueError, Refusal, RequestAction, ServiceTexts
from bot.services.catalogue_file import CatalogueFileError, FileProblem, Part, ProblemKind, parse_catalogue
from bot.services.members import PersonView
from handlers import catalogue_problems
from storage.db import unit_of_work
from storage.models import AuditEntry, Role, Service, ServiceCategory, ServiceRequest
from storage.repositories import Repositories

SMALL = Path(__file__).parent / "data" / "catalogue_small.yaml"
I18N = build_i18n()


@pytest.fixture
async def repos(session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[Repositories]:
    """One session for a test's whole story; each step flushes, as the bot's transactions would commit."""
    async with unit_of_work(session_factory) as session:
        yield Repositories(session)


async def people(repos: Repositories) -> tuple[PersonView, PersonView, PersonView, PersonView]:
    guest = await members.provision(repos, telegram_id=1001, first_name="Ana")
    member = await members.provision(
        repos, telegram_id=2001, first_name="Radu", role=Role.MEMBER, organisation="EcoTech SRL", language_code="ro"
    )
    maria = await members.provision(repos, telegram_id=3001, first_name="Maria", role=Role.MANAGER, language_code="ro")
    john = await members.provision(repos, telegram_id=3002, first_name="John", role=Role.MANAGER, language_code="en")
    return guest, member, maria, john


async def service_id(repos: Repositories, key: str) -> int:
    found = await repos.session.scalar(select(Service.id).where(Service.key == key))
    assert found is not None, key
    return found


async def audit_actions(repos: Repositories) -> list[str]:
    return list(await repos.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def describe(problem: FileProblem) -> str:
    """A file problem in words, in English as the CLI prints it (the handlers' layer words problems)."""
    with I18N.context(), I18N.use_locale("en"):
        return catalogue_problems.describe(problem)


# --- seeding ---------------------------------------------------------------------------------------------------------


async def test_the_packaged_catalogue_seeds_once_and_then_changes_nothing(repos: Repositories) -> None:
    shipped = catalogue.load_catalogue_file(catalogue.SEED_FILE)
    first = await catalogue.seed_catalogue(repos)
    assert first.categories.added == len(shipped) > 0
    assert first.services.added == sum(len(category.services) for category in shipped) > 0
    again = await catalogue.seed_catalogue(repos)
    assert not again.changed
    assert (again.categories.unchanged, again.services.unchanged) == (first.categories.added, first.services.added)
    # The bot's first start only fills an empty catalogue.
    assert await catalogue.ensure_catalogue(repos) is None


async def test_reseeding_after_the_file_was_edited(repos: Repositories, tmp_path: Path) -> None:
    _guest, member, _maria, _john = await people(repos)
    await catalogue.seed_catalogue(repos, path=SMALL)
    capital = await service_id(repos, "capital")
    await catalogue.submit_request(repos, member, capital, "Un credit pentru o linie de peleți.", default_locale="ro")

    # The cluster edits the file: a new title, "capital" dropped, a new service, research moved first.
    edited = SMALL.read_text(encoding="utf-8")
    edited = edited.replace('"Access to laboratories"', '"Access to research laboratories"')
    edited = re.sub(r"      - key: capital\n(?:        .*\n)+?(?=  - key: environment)", "", edited)
    edited = edited.replace(
        "  - key: environment\n",
        "      - key: crowdfunding\n"
        '        title: {ro: "Finanțare participativă", en: "Crowdfunding"}\n'
        '        description: {ro: "Campanii de finanțare participativă.", en: "Crowdfunding campaigns."}\n'
        "  - key: environment\n",
    )
    research = edited[edited.index("  - key: research") :]
    edited = edited.replace(research, "").replace("categories:\n", "categories:\n" + research)
    path = tmp_path / "catalogue.yaml"
    path.write_text(edited, encoding="utf-8")

    report = await catalogue.seed_catalogue(repos, path=path)
    assert (report.services.added, report.services.updated, report.services.hidden) == (1, 1, 1)
    assert report.services.unchanged == 3
    assert (report.categories.updated, report.categories.unchanged) == (3, 0)  # every position moved
    # The dropped service still exists for its request, hidden from members.
    row = await repos.session.get(Service, capital)
    assert row is not None and row.hidden
    assert (await repos.session.scalar(select(ServiceRequest.service_id))) == capital
    with pytest.raises(CatalogueError) as refused:
        await catalogue.service(repos, member, capital)
    assert refused.value.reason is Refusal.SERVICE_NOT_FOUND
    titles = [c.title_en for c in (await catalogue.categories(repos, member)).items]
    assert titles == ["Research", "Funding", "Environment"]
    laboratories = await catalogue.service(repos, member, await service_id(repos, "laboratories"))
    assert laboratories.title_en == "Access to research laboratories"
    # And once more: nothing left to do.
    assert not (await catalogue.seed_catalogue(repos, path=path)).changed
    assert (await audit_actions(repos)).count("catalogue.seeded") == 3


# --- the file: export, import, errors -----------------------------------------------------------------------------


async def test_export_then_import_changes_nothing(repos: Repositories) -> None:
    _guest, _member, maria, _john = await people(repos)
    await catalogue.seed_catalogue(repos, path=SMALL)
    # What managers did in the chat goes into the export too: a hidden service, a new one, a new order.
    await catalogue.set_service_hidden(repos, maria, await service_id(repos, "capital"), True)
    added = await catalogue.add_category(repos, maria, "Evenimente", "Events")
    await catalogue.add_service(
        repos, maria, added.id, ServiceTexts("Târg", "Fair", "Stand comun\nla târg.", "A joint stand\nat the fair.")
    )
    await catalogue.move_category(repos, maria, added.id, -1)

    exported = await catalogue.export_catalogue(repos)
    assert "hidden: true" in exported
    assert "Stand comun\n" in exported  # several lines stay several lines
    report = await catalogue.import_catalogue(repos, exported)
    assert not report.changed, report
    assert report.services.unchanged == 6 and report.categories.unchanged == 4
    assert await catalogue.export_catalogue(repos) == exported
    assert "catalogue.imported" in await audit_actions(repos)


async def test_an_import_with_a_wrong_line_changes_nothing(repos: Repositories) -> None:
    await catalogue.seed_catalogue(repos, path=SMALL)
    before = await catalogue.export_catalogue(repos)
    edited = before.replace("Funding", "Money", 1).replace("key: laboratories", "key: eu-funding")
    with pytest.raises(CatalogueFileError) as failed:
        await catalogue.import_catalogue(repos, edited)
    first, second = (n for n, text in enumerate(edited.splitlines(), 1) if text.strip() == "- key: eu-funding")
    assert [describe(p) for p in failed.value.problems] == [
        f"line {second}: duplicate service key 'eu-funding': line {first} has it already"
    ]
    assert await catalogue.export_catalogue(repos) == before


GOOD_SERVICE = '      - key: ok\n        title: {ro: "Bun", en: "Good"}\n        description: {ro: "Da.", en: "Yes."}\n'


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            'categories:\n  - key: a\n    title: {ro: "A", en: "A"\n',
            ["line 4: this is not valid YAML: expected ',' or '}', but got '<stream end>'"],
        ),
        ("", ["line 1: the file is empty; it should start with 'categories:'"]),
        (
            "services: []\n",
            [
                "line 1: unknown field 'services' in the catalogue; the fields are: categories",
                "line 1: the catalogue has no categories",
            ],
        ),
        (
            'categories:\n  - key: a\n    title: {ro: "Apă"}\n    services:\n' + GOOD_SERVICE,
            ["line 3: the title of category 'a' has no English text (en:)"],
        ),
        (
            'categories:\n  - key: a\n    title: {ro: "A", en: "A"}\n    colour: green\n    services:\n' + GOOD_SERVICE,
            ["line 4: unknown field 'colour' in a category; the fields are: key, title, hidden, services"],
        ),
        (
            'categories:\n  - key: a\n    title: {ro: "A", en: "A"}\n    services:\n' + GOOD_SERVICE + GOOD_SERVICE,
            ["line 8: duplicate service key 'ok': line 5 has it already"],
        ),
        (
            'categories:\n  - key: a\n    title: {ro: "A", en: "' + "x" * 121 + '"}\n',
            ["line 3: the English title of category 'a' is 121 characters long; at most 120"],
        ),
        (
            'categories:\n  - key: a\n    title: {ro: "A", en: "A"}\n    services:\n      - key: b\n'
            '        title: {ro: "B", en: "B"}\n        description: {ro: "", en: "' + "y" * 2001 + '"}\n'
            "        hidden: sometimes\n",
            [
                "line 7: the Romanian description of service 'b' is empty",
                "line 7: the English description of service 'b' is 2001 characters long; at most 2000",
                "line 8: hidden should be true or false",
            ],
        ),
        (
            'categories:\n  - key: Funding Now\n    title: {ro: "A", en: "A"}\n',
            [
                "line 2: the key 'Funding Now' should be lower-case letters, digits and dashes (at most 64), "
                "like 'eu-funding'"
            ],
        ),
    ],
    ids=[
        "bad-yaml",
        "empty",
        "no-categories",
        "missing-english",
        "unknown-field",
        "duplicate-key",
        "title-too-long",
        "description-and-hidden",
        "bad-key",
    ],
)
def test_a_wrong_file_is_explained_line_by_line(text: str, problems: list[str]) -> None:
    with pytest.raises(CatalogueFileError) as failed:
        catalogue.parse_catalogue(text)
    assert [describe(problem) for problem in failed.value.problems] == problems


def test_a_file_problem_is_a_kind_and_its_details_worded_only_by_the_handlers() -> None:
    with pytest.raises(CatalogueFileError) as failed:
        catalogue.parse_catalogue('categories:\n  - key: a\n    title: {ro: "Apă"}\n    colour: green\n')
    fields = ("key", "title", "hidden", "services")
    unknown = FileProblem(
        4, ProblemKind.UNKNOWN_FIELD, {"where": Part.CATEGORY, "key": None, "name": "colour", "fields": fields}
    )
    missing = FileProblem(3, ProblemKind.TEXT_MISSING, {"where": Part.CATEGORY_TITLE, "key": "a", "language": "en"})
    assert failed.value.problems == [unknown, missing]
    # Its str() is for logs: kinds and details, not the sentences people read.
    assert str(failed.value) == (
        "line 4: unknown_field (where=category, key=None, name=colour, fields=('key', 'title', 'hidden', 'services'))\n"
        "line 3: text_missing (where=category title, key=a, language=en)"
    )
    with I18N.context(), I18N.use_locale("ro"):
        assert [catalogue_problems.describe(problem) for problem in (unknown, missing)] == [
            "linia 4: câmp necunoscut 'colour' într-o categorie; câmpurile sunt: key, title, hidden, services",
            "linia 3: titlul categoriei 'a' nu are text în limba engleză (en:)",
        ]
    assert describe(missing) == "line 3: the title of category 'a' has no English text (en:)"


def test_the_services_hold_no_words_for_people() -> None:
    """Services say what happened (kinds, details); the handlers' layer words it in the reader's language."""
    services = Path(__file__).resolve().parent.parent / "bot" / "services"
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2)}
    messages = extract_from_dir(services, keywords=keywords, method_map=[("**.py", "python")])
    assert [(file, message) for file, _line, message, _comments, _context in messages] == []


# --- browsing and search ---------------------------------------------------------------------------------------


async def found(repos: Repositories, viewer: PersonView | None, words: str) -> list[str]:
    page = await catalogue.search(repos, viewer, words)
    return [service.key for service in page.items]


async def test_search_ignores_diacritics_and_matches_either_language(repos: Repositories) -> None:
    guest, member, maria, _john = await people(repos)
    await catalogue.seed_catalogue(repos, path=SMALL)
    # The file spells "staţii" with a cedilla; people type it plain, with a comma below, or in capitals.
    for words in ("statii", "stații", "STAŢII", "apei statii"):
        assert await found(repos, guest, words) == ["water-treatment"], words
    # "Știință" has a comma below; a cedilla keyboard or none at all finds it too.
    for words in ("ştiinţă", "stiinta", "Știință"):
        assert await found(repos, member, words) == ["laboratories"], words
    assert await found(repos, member, "grant") == ["eu-funding"]  # only in the English text
    assert await found(repos, member, "finanțare") == ["eu-funding"]
    # Romanian word endings: "legislatie" (the dictionary form) finds "Legislația".
    assert await found(repos, member, "legislatie mediu") == ["environmental-law"]
    assert await found(repos, member, "autorizatie") == ["environmental-law"]
    # English plurals and Romanian forms of one word find each other.
    for words in ("laboratory", "laboratories", "laborator", "laboratoare"):
        assert await found(repos, member, words) == ["laboratories"], words
    assert await found(repos, member, "fond") == ["eu-funding", "capital"]  # the start of a word is enough
    assert await found(repos, member, "apei laboratoare") == []  # every word must match
    assert await found(repos, member, "ond") == []  # but not the middle of one
    assert await found(repos, member, "% _") == []
    assert await found(repos, member, "!!!") == []
    await catalogue.set_service_hidden(repos, maria, await service_id(repos, "capital"), True)
    assert await found(repos, member, "capital") == []
    assert await found(repos, maria, "capital") == ["capital"]


async def test_hidden_categories_and_services_are_invisible_to_members(repos: Repositories) -> None:
    guest, member, maria, _john = await people(repos)
    await catalogue.seed_catalogue(repos, path=SMALL)
    research = next(c for c in (await catalogue.categories(repos, maria)).items if c.key == "research")
    await catalogue.set_category_hidden(repos, maria, research.id, True)
    assert [c.key for c in (await catalogue.categories(repos, guest)).items] == ["funding", "environment"]
    assert [c.key for c in (await catalogue.categories(repos, maria)).items] == ["funding", "environment", "research"]
    laboratories = await service_id(repos, "laboratories")
    for viewer in (guest, member, None):
        with pytest.raises(CatalogueError):
            await catalogue.category(repos, viewer, research.id)
        with pytest.raises(CatalogueError):
            await catalogue.service(repos, viewer, laboratories)
        assert await found(repos, viewer, "laboratoare") == []
    with pytest.raises(CatalogueError) as refused:
        await catalogue.check_can_request(repos, member, laboratories)
    assert refused.value.reason is Refusal.SERVICE_NOT_FOUND
    # A manager whose role was taken away (by the command line) no longer sees hidden entries.
    await members.set_role(repos, maria.telegram_id, Role.MEMBER)
    assert [c.key for c in (await catalogue.categories(repos, maria)).items] == ["funding", "environment"]


async def test_pages_of_a_large_category(repos: Repositories) -> None:
    _guest, member, _maria, _john = await people(repos)
    services = "".join(
        f'      - key: service-{n}\n        title: {{ro: "Serviciul {n}", en: "Service {n}"}}\n'
        f'        description: {{ro: "Descriere {n}.", en: "Description {n}."}}\n'
        for n in range(1, 106)
    )
    await catalogue.import_catalogue(
        repos, f'categories:\n  - key: many\n    title: {{ro: "Multe", en: "Many"}}\n    services:\n{services}'
    )
    category_id = (await catalogue.categories(repos, member)).items[0].id
    _category, first = await catalogue.category(repos, member, category_id)
    assert (first.number, first.pages, first.total, len(first.items)) == (0, 14, 105, catalogue.PAGE_SIZE)
    _category, last = await catalogue.category(repos, member, category_id, 13)
    assert [s.title_en for s in last.items] == ["Service 105"]
    # A page beyond the end (an old button after services were hidden) shows the last one.
    _category, beyond = await catalogue.category(repos, member, category_id, 99)
    assert beyond.number == 13
    results = await catalogue.search(repos, member, "service", 2)
    assert (results.number, results.pages, results.total) == (2, 14, 105)
    assert results.items[0].title_en == "Service 17"


# --- requests ------------------------------------------------------------------------------------------------------


async def test_a_request_goes_to_every_manager_and_the_first_action_wins(repos: Repositories) -> None:
    guest, member, maria, john = await people(repos)
    await catalogue.seed_catalogue(repos, path=SMALL)
    water = await service_id(repos, "water-treatment")

    with pytest.raises(CatalogueError) as refused:
        await catalogue.submit_request(repos, guest, water, "Vreau o stație.", default_locale="ro")
    assert refused.value.reason is Refusal.MEMBERS_ONLY
    with pytest.raises(CatalogueError) as refused:
        await catalogue.submit_request(repos, member, water, "x" * 1001, default_locale="ro")
    assert refused.value.reason is Refusal.TEXT_TOO_LONG

    created = await catalogue.submit_request(
        repos, member, water, "  O stație pentru 2.000 de locuitori.  ", default_locale="ro"
    )
    request = created.request
    assert request.note == "O stație pentru 2.000 de locuitori."
    assert request.organisation_name == "EcoTech SRL"
    assert [(m.chat_id, m.locale) for m in created.managers] == [(3001, "ro"), (3002, "en")]

    taken = await catalogue.act_on_request(repos, john, request.id, RequestAction.TAKE, default_locale="ro")
    assert taken.request.handled_by_name == "John"
    assert (taken.member.chat_id, taken.member.locale) == (2001, "ro")
    with pytest.raises(CatalogueError) as stale:
        await catalogue.act_on_request(repos, maria, request.id, RequestAction.TAKE, default_locale="ro")
    assert stale.value.reason is Refusal.REQUEST_HANDLED
    assert (stale.value.context["status"], stale.value.context["by"]) == ("taken", "John")

    # A member pressing a manager's button, and a manager demoted a moment ago, are refused.
    with pytest.raises(CatalogueError) as refused:
        await catalogue.act_on_request(repos, member, request.id, RequestAction.DONE, default_locale="ro")
    assert refused.value.reason is Refusal.NOT_ALLOWED
    await members.set_role(repos, john.telegram_id, Role.MEMBER)
    with pytest.raises(CatalogueError) as refused:
        await catalogue.act_on_request(repos, john, request.id, RequestAction.DONE, default_locale="ro")
    assert refused.value.reason is Refusal.NOT_ALLOWED

    # Any manager may finish it.
    done = await catalogue.act_on_request(repos, maria, request.id, RequestAction.DONE, default_locale="ro")
    assert done.request.status.value == "done" and done.request.handled_by_name == "Maria"
    with pytest.raises(CatalogueError) as stale:
        await catalogue.act_on_request(
            repos, maria, request.id, RequestAction.DECLINE, default_locale="ro", reason="Prea târziu."
        )
    assert stale.value.context["status"] == "done"
    assert [r.status.value for r in await catalogue.requests_of(repos, member.id)] == ["done"]
    requests = [a for a in await audit_actions(repos) if a.startswith("service_request.")]
    assert requests == ["service_request.created", "service_request.taken", "service_request.done"]


async def test_declining_needs_a_reason_and_the_list_shows_what_is_unfinished(repos: Repositories) -> None:
    _guest, member, maria, _john = await people(repos)
    await catalogue.seed_catalogue(repos, path=SMALL)
    first = await catalogue.submit_request(
        repos, member, await service_id(repos, "capital"), "Credit.", default_locale="ro"
    )
    second = await catalogue.submit_request(
        repos, member, await service_id(repos, "laboratories"), "Un spectrometru.", default_locale="ro"
    )
    with pytest.raises(CatalogueError) as refused:
        await catalogue.act_on_request(
            repos, maria, first.request.id, RequestAction.DECLINE, default_locale="ro", reason="   "
        )
    assert refused.value.reason is Refusal.TEXT_EMPTY
    declined = await catalogue.act_on_request(
        repos, maria, first.request.id, RequestAction.DECLINE, default_locale="ro", reason="Nu finanțăm credite."
    )
    assert declined.request.decline_reason == "Nu finanțăm credite."
    waiting, total = await catalogue.unfinished_requests(repos, maria)
    assert ([r.id for r in waiting], total) == ([second.request.id], 1)
    with pytest.raises(CatalogueError):
        await catalogue.unfinished_requests(repos, member)
    mine = await catalogue.requests_of(repos, member.id)
    assert [(r.service_title_ro, r.status.value) for r in mine] == [
        ("Acces la laboratoare", "open"),
        ("Acces la capital", "declined"),
    ]


# --- managers' edits --------------------------------------------------------------------------------------------


async def test_managers_edit_hide_and_reorder_with_an_audit_trail(repos: Repositories) -> None:
    _guest, member, maria, _john = await people(repos)
    await catalogue.seed_catalogue(repos, path=SMALL)
    environment = next(c for c in (await catalogue.categories(repos, maria)).items if c.key == "environment")
    texts = ServiceTexts("Monitorizarea  aerului", "Air monitoring", "Senzori și rapoarte.", "Sensors and reports.")

    with pytest.raises(CatalogueError) as refused:
        await catalogue.add_service(repos, member, environment.id, texts)
    assert refused.value.reason is Refusal.NOT_ALLOWED
    with pytest.raises(CatalogueError) as refused:
        await catalogue.add_service(repos, maria, environment.id, ServiceTexts("x" * 121, "Air", "D", "D"))
    assert (refused.value.reason, refused.value.context["limit"]) == (Refusal.TEXT_TOO_LONG, 120)

    air = await catalogue.add_service(repos, maria, environment.id, texts)
    assert (air.key, air.title_ro) == ("air-monitoring", "Monitorizarea aerului")
    twin = await catalogue.add_service(repos, maria, environment.id, texts)
    assert twin.key == "air-monitoring-2"
    await catalogue.edit_service(
        repos, maria, twin.id, ServiceTexts("Calitatea apei", "Water quality", "Analize.", "Tests.")
    )
    assert await found(repos, member, "analize") == [twin.key]
    await catalogue.move_service(repos, maria, twin.id, -1)
    await catalogue.move_service(repos, maria, twin.id, -1)
    _category, page = await catalogue.category(repos, maria, environment.id)
    with pytest.raises(CatalogueError) as refused:
        await catalogue.move_service(repos, maria, page.items[0].id, -1)
    assert refused.value.reason is Refusal.AT_THE_EDGE
    _category, page = await catalogue.category(repos, member, environment.id)
    assert [s.key for s in page.items] == ["water-treatment", "air-monitoring-2", "environmental-law", "air-monitoring"]
    await catalogue.set_service_hidden(repos, maria, air.id, True)
    _category, page = await catalogue.category(repos, member, environment.id)
    assert air.id not in [s.id for s in page.items]
    positions = await repos.session.scalars(
        select(Service.position).where(Service.category_id == environment.id).order_by(Service.position)
    )
    assert list(positions) == [1, 2, 3, 4]
    renamed = await catalogue.edit_category(repos, maria, environment.id, "Mediu și apă", "Environment and water")
    assert renamed.title_en == "Environment and water"
    await catalogue.move_category(repos, maria, environment.id, 1)
    order = await repos.session.scalars(select(ServiceCategory.key).order_by(ServiceCategory.position))
    assert list(order) == ["funding", "research", "environment"]
    actions = [a for a in await audit_actions(repos) if a.startswith("catalogue.") and a != "catalogue.seeded"]
    assert actions == [
        "catalogue.service_added",
        "catalogue.service_added",
        "catalogue.service_edited",
        "catalogue.service_moved",
        "catalogue.service_moved",
        "catalogue.service_hidden",
        "catalogue.category_edited",
        "catalogue.category_moved",
    ]


# --- the command line ---------------------------------------------------------------------------------------------


@pytest.fixture
def operator_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A deployment of its own: an SQLite file in a temporary folder, no token."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}")
    for name in ("BOT_TOKEN", "REDIS_URL", "ADMIN_IDS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_an_operator_seeds_exports_edits_and_imports(operator_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    shipped = catalogue.load_catalogue_file(catalogue.SEED_FILE)
    services = sum(len(category.services) for category in shipped)
    assert main(["seed"]) == 0
    out = capsys.readouterr().out
    assert f"catalogue categories: {len(shipped)} added, 0 updated, 0 unchanged, 0 hidden" in out
    assert f"catalogue services: {services} added, 0 updated, 0 unchanged, 0 hidden" in out
    assert "working groups: " in out
    assert main(["seed"]) == 0
    assert f"catalogue services: 0 added, 0 updated, {services} unchanged, 0 hidden" in capsys.readouterr().out

    assert main(["catalogue", "export", "catalogue.yaml"]) == 0
    exported = (operator_env / "catalogue.yaml").read_text(encoding="utf-8")
    assert main(["catalogue", "import", "catalogue.yaml"]) == 0
    assert f"services: 0 added, 0 updated, {services} unchanged, 0 hidden" in capsys.readouterr().out

    # A manager's edit: one title changed, one service hidden, one title far too long.
    first_service = shipped[0].services[0]
    edited = exported.replace(f"en: {first_service.texts.title_en}", "en: Grant writing", 1)
    edited = edited.replace(
        f"  - key: {shipped[1].services[0].key}\n", f"  - key: {shipped[1].services[0].key}\n    hidden: true\n"
    )
    broken = edited.replace("en: Grant writing", "en: " + "Grant writing " * 10, 1)
    (operator_env / "broken.yaml").write_text(broken, encoding="utf-8")
    assert main(["catalogue", "import", "broken.yaml", "--check"]) == 1
    line = next(n for n, text in enumerate(broken.splitlines(), 1) if "Grant writing Grant" in text)
    err = capsys.readouterr().err
    assert f"broken.yaml: line {line}: the English title of service '{first_service.key}' is 139 characters long" in err
    assert main(["catalogue", "import", "broken.yaml"]) == 1
    assert "nothing was imported" in capsys.readouterr().err
    (operator_env / "edited.yaml").write_text(edited, encoding="utf-8")
    assert main(["catalogue", "import", "edited.yaml", "--check"]) == 0
    assert "can be imported" in capsys.readouterr().out
    assert main(["catalogue", "import", "edited.yaml"]) == 0
    assert f"services: 0 added, 2 updated, {services - 2} unchanged, 0 hidden" in capsys.readouterr().out
    assert main(["catalogue", "export", "-"]) == 0
    now = capsys.readouterr().out
    assert "en: Grant writing\n" in now and now.count("\n    hidden: true\n") == 1


async def test_a_new_deployment_starts_with_the_content_and_a_restart_keeps_managers_changes(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    from bot.app import fill_empty_content
    from storage.models import WorkingGroup

    await fill_empty_content(session_factory)
    async with unit_of_work(session_factory) as session:
        assert len((await session.scalars(select(Service))).all()) == 30
        assert len((await session.scalars(select(WorkingGroup))).all()) == 9
        # A manager hides a service; the next start must not bring it back.
        service = await session.scalar(select(Service).where(Service.key == "eu-national-funding-applications"))
        assert service is not None
        service.hidden = True
    await fill_empty_content(session_factory)
    async with unit_of_work(session_factory) as session:
        hidden = await session.scalar(select(Service.hidden).where(Service.key == "eu-national-funding-applications"))
        assert hidden is True
        assert len((await session.scalars(select(WorkingGroup))).all()) == 9


async def test_short_titles_are_read_checked_stored_exported_and_follow_the_titles(repos: Repositories) -> None:
    _guest, member, maria, _john = await people(repos)
    # Every service of the packaged catalogue has a short title in both languages, short enough for a button.
    await catalogue.seed_catalogue(repos)
    rows = list(await repos.catalogue.all_services())
    assert rows and all(row.short_title_ro and row.short_title_en for row in rows)
    assert all(len(row.short_title_ro or "") <= 40 and len(row.short_title_en or "") <= 40 for row in rows)
    tenders = next(row for row in rows if row.key == "tender-preparation-consortia")
    view = await catalogue.service(repos, member, tenders.id)
    assert (view.short_title("ro"), view.short_title("en")) == ("Oferte și consorții", "Tenders and consortia")
    assert view.title("en") == "Tender preparation and consortium building"

    # The export writes them and reads them back unchanged.
    exported = await catalogue.export_catalogue(repos)
    written = {entry.key: entry for category in parse_catalogue(exported) for entry in category.services}
    texts = written["tender-preparation-consortia"].texts
    assert (texts.short_title_ro, texts.short_title_en) == ("Oferte și consorții", "Tenders and consortia")
    assert not (await catalogue.import_catalogue(repos, exported)).changed

    # Too long, or in one language only: the file is refused, line by line.
    too_long = exported.replace("en: Tenders and consortia", "en: " + "Tenders " * 6, 1)
    with pytest.raises(CatalogueFileError) as refused:
        await catalogue.import_catalogue(repos, too_long)
    problem = refused.value.problems[0]
    assert (problem.kind, problem.params["where"], problem.params["limit"]) == (
        ProblemKind.TEXT_TOO_LONG,
        Part.SERVICE_SHORT_TITLE,
        40,
    )
    with I18N.context(), I18N.use_locale("ro"):
        assert "titlul scurt în limba engleză al serviciului 'tender-preparation-consortia'" in (
            catalogue_problems.describe(problem)
        )

    # A service edited in the chat keeps its short title while its title stays, and loses it with a new title.
    kept = await catalogue.edit_service(
        repos,
        maria,
        tenders.id,
        ServiceTexts(view.title_ro, view.title_en, "Descriere nouă.", "New description."),
    )
    assert (kept.short_title("ro"), kept.short_title("en")) == ("Oferte și consorții", "Tenders and consortia")
    renamed = await catalogue.edit_service(
        repos,
        maria,
        tenders.id,
        ServiceTexts(view.title_ro, "Bids and consortia for public tenders", "Descriere nouă.", "New description."),
    )
    assert renamed.short_title("ro") == "Oferte și consorții"
    assert renamed.short_title("en") == "Bids and consortia for public tenders"
