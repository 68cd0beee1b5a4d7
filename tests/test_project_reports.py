"""Managers' exports of projects: a project's commitments as a CSV file that matches what was committed, and what
each member organisation put into the cluster's projects in a year, in the chat, on the command line and in the
service; members and demoted managers are refused, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram.utils.i18n import I18n
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import build_i18n
from bot.config import Settings
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from bot.services import members, project_reports, projects
from bot.services.members import MembershipError, PersonView, Refusal
from bot.services.project_reports import OrganisationTotal, ResourceTotal
from bot.services.projects import ProjectError, ProjectRefusal
from handlers.projects.reports import commitments_csv, safe_cell, totals_csv, totals_text
from storage.db import create_session_factory, unit_of_work
from storage.models import AuditEntry, Person, ProjectState, ResourceKind, Role
from storage.repositories import Repositories

Factory = async_sessionmaker[AsyncSession]
_IDS: Iterator[int] = itertools.count(70_000)
BUCHAREST = ZoneInfo("Europe/Bucharest")
BOM = b"\xef\xbb\xbf"
ENGLISH_HEADER = [
    "Organisation",
    "Resource",
    "Unit",
    "Amount",
    "Note",
    "Version",
    "Author",
    "Time (Europe/Bucharest)",
    "Withdrawn",
    "Latest version",
    "Rank",
]


@pytest.fixture(scope="module")
def i18n() -> I18n:
    return build_i18n("ro")


def worded(i18n: I18n, locale: str, write: Callable[[], bytes]) -> bytes:
    with i18n.context(), i18n.use_locale(locale):
        return write()


def read_csv(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """The file as a spreadsheet reads it: a BOM, then one header row."""
    assert data.startswith(BOM)
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


async def person(
    repos: Repositories,
    name: str,
    role: Role = Role.MEMBER,
    organisation: str | None = None,
    last_name: str | None = None,
    telegram_id: int | None = None,
) -> PersonView:
    return await members.provision(
        repos,
        telegram_id=telegram_id or next(_IDS),
        first_name=name,
        last_name=last_name,
        role=role,
        organisation=organisation if organisation is not None else (f"{name} SRL" if role is Role.MEMBER else None),
    )


async def prepared_project(repos: Repositories, manager: PersonView, proposer: PersonView, title: str) -> int:
    project = await projects.propose(repos, proposer, title=title, description="Din deșeuri verzi.", locale="ro")
    await projects.set_plan(repos, proposer, project.id, [("Studiu de fezabilitate", None, date(2027, 3, 1))])
    await projects.set_budget(repos, proposer, project.id, 12_500_00, "RON")
    await projects.set_needs(repos, proposer, project.id, {("money", "RON"): 10_000_00})
    await projects.move(repos, manager, project.id, ProjectState.PREPARATION, reason="Plan și buget gata.")
    return project.id


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


# --- a project's commitments as CSV ---------------------------------------------------------------------------


async def test_the_csv_holds_every_version_of_every_commitment_as_committed(
    session_factory: Factory, i18n: I18n
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria = await person(repos, "Maria", Role.MANAGER)
        # Names a spreadsheet would take for formulas; a comma and quotes in a note (its line break is kept as a
        # space, as every text the bot stores).
        ana = await person(repos, "Ana", organisation='=HYPERLINK("http://x") SRL', last_name="Pop")
        bogdan = await person(repos, "-Bogdan", organisation="Bio, Verde SRL")
        carmen = await person(repos, "Carmen", organisation="Carmen SRL")
        project_id = await prepared_project(repos, maria, ana, "Compost urban")
        note = 'Din fonduri proprii, "urgent"\nconfirmat'
        await projects.commit(
            repos, ana, project_id, kind="money", unit="RON", hundredths=5_000_00, note=note, now=at("2026-06-01 09:00")
        )
        await projects.commit(
            repos, bogdan, project_id, kind="person_days", unit="person_days", hundredths=10_00, now=at("2026-06-02")
        )
        await projects.commit(
            repos, ana, project_id, kind="money", unit="RON", hundredths=7_500_50, now=at("2026-06-03 10:15:30")
        )
        await projects.commit(
            repos, carmen, project_id, kind="money", unit="EUR", hundredths=100_00, now=at("2026-06-04")
        )
        await projects.withdraw(repos, carmen, project_id, kind="money", unit="EUR", now=at("2026-12-05"))

    async with unit_of_work(session_factory) as session:
        report = await project_reports.commitments(Repositories(session), maria, project_id)
    header, rows = read_csv(worded(i18n, "en", lambda: commitments_csv(report, BUCHAREST)))
    assert header == ENGLISH_HEADER
    stored = note.replace("\n", " ")
    expected = [
        # Ana's organisation first (rank 1): both versions of its money line, the latest with its rank.
        ["'=HYPERLINK(\"http://x\") SRL", "money", "RON", "5000.00", stored, "1", "Ana Pop", "2026-06-01 12:00:00",
         "no", "no", ""],
        ["'=HYPERLINK(\"http://x\") SRL", "money", "RON", "7500.50", "", "2", "Ana Pop", "2026-06-03 13:15:30",
         "no", "yes", "1"],
        ["Bio, Verde SRL", "person-days", "person-days", "10.00", "", "1", "'-Bogdan", "2026-06-02 03:00:00",
         "no", "yes", "2"],
        # Carmen withdrew (winter time: UTC+2): no rank, no amount.
        ["Carmen SRL", "money", "EUR", "100.00", "", "1", "Carmen", "2026-06-04 03:00:00", "no", "no", ""],
        ["Carmen SRL", "money", "EUR", "", "", "2", "Carmen", "2026-12-05 02:00:00", "yes", "yes", ""],
    ]  # fmt: skip
    assert [list(row.values()) for row in rows] == expected
    assert report.lines == 3 and len(report.rows) == 5

    # In Romanian: the same rows, its headers and words.
    header, rows = read_csv(worded(i18n, "ro", lambda: commitments_csv(report, BUCHAREST)))
    assert header[:4] == ["Organizație", "Resursă", "Unitate", "Valoare"]
    assert header[7] == "Data și ora (Europe/Bucharest)"
    assert [(row["Resursă"], row["Valoare"], row["Retras"]) for row in rows][2:] == [
        ("zile-om", "10.00", "nu"),
        ("bani", "100.00", "nu"),
        ("bani", "", "da"),
    ]
    async with unit_of_work(session_factory) as session:
        actors = (
            await session.scalars(select(AuditEntry.actor_id).where(AuditEntry.action == "project.exported"))
        ).all()
    assert actors == [maria.id]


def test_cells_a_spreadsheet_would_run_as_formulas_start_with_an_apostrophe() -> None:
    for dangerous in ("=1+2", "+40 721", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(dangerous) == "'" + dangerous
    for harmless in ("EcoTech SRL", "Ana-Maria", "a=b", "", None):
        assert safe_cell(harmless) == (harmless or "")


async def test_members_demoted_managers_and_unknown_projects_are_refused(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria = await person(repos, "Maria", Role.MANAGER)
        john = await person(repos, "John", Role.MANAGER)
        ana = await person(repos, "Ana")
        project_id = await prepared_project(repos, maria, ana, "Compost")
        await projects.commit(repos, ana, project_id, kind="money", unit="RON", hundredths=100_00)
        await session.execute(update(Person).where(Person.id == john.id).values(role=Role.MEMBER.value))
    for who in (ana, john):
        async with unit_of_work(session_factory) as session:
            repos = Repositories(session)
            with pytest.raises(MembershipError) as refused:
                await project_reports.commitments(repos, who, project_id)
            assert refused.value.reason is Refusal.NOT_ALLOWED
            with pytest.raises(MembershipError):
                await project_reports.yearly_totals(repos, who, 2026, BUCHAREST)
    async with unit_of_work(session_factory) as session:
        with pytest.raises(ProjectError) as unknown:
            await project_reports.commitments(Repositories(session), maria, project_id + 1000)
        assert unknown.value.reason is ProjectRefusal.NOT_FOUND
    async with unit_of_work(session_factory) as session:
        assert (await session.scalars(select(AuditEntry).where(AuditEntry.action == "project.exported"))).all() == []


# --- totals per organisation in a year --------------------------------------------------------------------------


async def test_a_years_totals_count_commitments_begun_that_year_at_their_latest_amount(
    session_factory: Factory, i18n: I18n
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria = await person(repos, "Maria", Role.MANAGER)
        xenia = await person(repos, "Xenia", organisation="Xenia SRL")
        yoan = await person(repos, "Yoan", organisation="Yoan SRL")
        a = await prepared_project(repos, maria, xenia, "A")
        b = await prepared_project(repos, maria, xenia, "B")
        c = await prepared_project(repos, maria, xenia, "C")

        async def commit(who: PersonView, project: int, kind: str, unit: str, amount: int, when: str) -> None:
            await projects.commit(repos, who, project, kind=kind, unit=unit, hundredths=amount, now=at(when))

        # 23:30 in Bucharest on New Year's Eve: 2025; an hour later it is 2026 there, not yet in UTC.
        await commit(xenia, a, "money", "RON", 1_000_00, "2025-12-31 21:30")
        await commit(xenia, a, "person_days", "person_days", 5_00, "2025-12-31 22:30")
        # Raised in 2026: still begun in 2025, counted at the new amount.
        await commit(xenia, a, "money", "RON", 1_500_00, "2026-02-01")
        await commit(xenia, b, "money", "RON", 2_000_00, "2026-03-01")
        # A cancelled project received nothing.
        await commit(xenia, c, "money", "RON", 9_000_00, "2026-03-02")
        await projects.move(repos, maria, c, ProjectState.CANCELLED, reason="Fără finanțare.")
        # Withdrawn and committed again: counted from the new beginning.
        await commit(yoan, b, "money", "RON", 300_00, "2025-06-01")
        await projects.withdraw(repos, yoan, b, kind="money", unit="RON", now=at("2026-01-10"))
        await commit(yoan, b, "money", "RON", 400_00, "2026-01-20")
        await commit(yoan, a, "equipment", "hours", 12_00, "2026-04-01")
        await commit(yoan, a, "equipment", "days", 2_00, "2026-04-01 10:00")

    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        totals_2025 = await project_reports.yearly_totals(repos, maria, 2025, BUCHAREST)
        totals_2026 = await project_reports.yearly_totals(repos, maria, 2026, BUCHAREST)
        totals_2024 = await project_reports.yearly_totals(repos, maria, 2024, BUCHAREST)
    money = ResourceKind.MONEY
    assert totals_2025 == [
        OrganisationTotal(xenia.organisation_id or 0, "Xenia SRL", 1, [ResourceTotal(money, "RON", 1_500_00, 1)])
    ]
    assert totals_2026 == [
        OrganisationTotal(
            xenia.organisation_id or 0,
            "Xenia SRL",
            2,
            [ResourceTotal(money, "RON", 2_000_00, 1), ResourceTotal(ResourceKind.PERSON_DAYS, "person_days", 5_00, 1)],
        ),
        OrganisationTotal(
            yoan.organisation_id or 0,
            "Yoan SRL",
            2,
            [
                ResourceTotal(money, "RON", 400_00, 1),
                ResourceTotal(ResourceKind.EQUIPMENT, "hours", 12_00, 1),
                ResourceTotal(ResourceKind.EQUIPMENT, "days", 2_00, 1),
            ],
        ),
    ]
    assert totals_2024 == []

    with i18n.context(), i18n.use_locale("ro"):
        text = totals_text(totals_2026, 2026)
        empty = totals_text([], 2024)
        header, rows = read_csv(totals_csv(totals_2026))
    assert "📊 <b>Ce au angajat organizațiile membre în 2026</b>" in text
    assert "<b>Xenia SRL</b>: 2 proiecte\n💰 bani: 2.000,00\u00a0lei\n👷 zile-om: 5 zile-om" in text
    assert "🔬 echipamente sau acces la laborator: 2 zile" in text
    assert "Nicio organizație nu a angajat încă resurse în 2024." in empty
    assert header == ["Organizație", "Proiecte", "Resursă", "Unitate", "Valoare", "Proiecte cu această resursă"]
    assert [list(row.values()) for row in rows] == [
        ["Xenia SRL", "2", "bani", "RON", "2000.00", "1"],
        ["Xenia SRL", "2", "zile-om", "zile-om", "5.00", "1"],
        ["Yoan SRL", "2", "bani", "RON", "400.00", "1"],
        ["Yoan SRL", "2", "echipamente sau acces la laborator", "ore", "12.00", "1"],
        ["Yoan SRL", "2", "echipamente sau acces la laborator", "zile", "2.00", "1"],
    ]


def test_a_long_list_of_totals_fits_one_message_and_points_to_the_file(i18n: I18n) -> None:
    from bot.telegram_text import TEXT_LIMIT, parse_html, utf16_len

    many = [
        OrganisationTotal(n, f"Organizația numărul {n} SRL", 3, [ResourceTotal(ResourceKind.MONEY, "RON", n * 100, 3)])
        for n in range(300)
    ]
    with i18n.context(), i18n.use_locale("en"):
        text = totals_text(many, 2026)
    assert utf16_len(parse_html(text)[0]) <= TEXT_LIMIT
    assert "Organizația numărul 0 SRL" in text
    assert text.endswith("more organisations: every one is in the file.")


# The property: whatever the commitments, withdrawals and re-commitments, a year's totals are the sums of the
# latest versions still standing of the lines begun that year.
ORGANISATIONS, PROJECTS = 3, 2
Step = tuple[int, int, int, int]  # (organisation, project, amount in hundredths or 0 to withdraw, days later)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.integers(0, ORGANISATIONS - 1),
            st.integers(0, PROJECTS - 1),
            st.sampled_from([0, 1_00, 2_50, 7_00, 1_000_00]),
            st.integers(0, 40),
        ),
        max_size=16,
    )
)
async def test_totals_equal_the_sum_of_the_latest_standing_versions(
    sqlite_engine: AsyncEngine, steps: list[Step]
) -> None:
    factory = create_session_factory(sqlite_engine)
    async with unit_of_work(factory) as session:
        repos = Repositories(session)
        maria = await person(repos, "Maria", Role.MANAGER)
        people = [await person(repos, f"Org{next(_IDS)}") for _ in range(ORGANISATIONS)]
        project_ids = [await prepared_project(repos, maria, people[0], f"P{n}") for n in range(PROJECTS)]
    # The model: each line's latest amount and the year its standing began (None once withdrawn).
    lines: dict[tuple[int, int], tuple[int, int | None]] = {}
    when = datetime(2025, 11, 20, 12, tzinfo=UTC)
    for who, project, amount, days in steps:
        when += timedelta(days=days)
        async with unit_of_work(factory) as session:
            repos = Repositories(session)
            if amount == 0:
                try:
                    await projects.withdraw(
                        repos, people[who], project_ids[project], kind="money", unit="RON", now=when
                    )
                except ProjectError as refusal:
                    assert refusal.reason is ProjectRefusal.NOTHING_TO_WITHDRAW
                else:
                    lines[(who, project)] = (0, None)
                continue
            await projects.commit(
                repos, people[who], project_ids[project], kind="money", unit="RON", hundredths=amount, now=when
            )
        _latest, began = lines.get((who, project), (0, None))
        lines[(who, project)] = (amount, began if began is not None else when.astimezone(BUCHAREST).year)

    for year in range(2025, 2028):
        expected: dict[int, tuple[int, set[int]]] = {}
        for (who, project), (amount, began) in lines.items():
            if began == year:
                total, in_projects = expected.get(who, (0, set()))
                expected[who] = (total + amount, in_projects | {project})
        async with unit_of_work(factory) as session:
            totals = await project_reports.yearly_totals(Repositories(session), maria, year, BUCHAREST)
        # The examples share one database: only this example's organisations are looked at.
        ours = {p.organisation_id for p in people}
        by_organisation = {t.organisation_id: t for t in totals if t.organisation_id in ours}
        assert set(by_organisation) == {people[who].organisation_id for who in expected}
        for who, (total, in_projects) in expected.items():
            found = by_organisation[people[who].organisation_id or 0]
            assert found.resources == [ResourceTotal(ResourceKind.MONEY, "RON", total, len(in_projects))]
            assert found.projects == len(in_projects)


# --- in the chat -------------------------------------------------------------------------------------------------


@pytest.fixture
async def sandbox(migrated_url: str, make_settings: Callable[..., Settings]) -> AsyncIterator[SandboxBot]:
    async with SandboxBot(make_settings(migrated_url)) as running:
        yield running


def document(sandbox: SandboxBot, who: SandboxUser, name: str) -> bytes:
    sent = [message for message in who.messages if message.has_document and message.document_name == name]
    assert len(sent) == 1, [message.document_name for message in who.messages]
    state = sandbox.server.message(who.chat_id, sent[0].message_id).document
    assert state is not None
    return sandbox.server.file_content(str(state["file_id"]))


async def test_a_manager_exports_a_projects_commitments_and_this_years_totals_in_the_chat(sandbox: SandboxBot) -> None:
    assert sandbox.rt is not None
    maria = await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager")
    john = await sandbox.person("john", 3002, "John", language_code="ro", role="manager")
    ana = await sandbox.person("ana", 1001, "Ana", language_code="ro", role="member", organisation="EcoTech SRL")
    dan = await sandbox.person("dan", 1002, "Dan", language_code="en", role="member", organisation="@Bio SRL")
    for who in (maria, john, ana, dan):
        await who.send("/start")
    async with unit_of_work(sandbox.rt.session_factory) as session:
        repos = Repositories(session)
        manager = await person(repos, "Maria", Role.MANAGER, telegram_id=3001)
        ana_view = await person(repos, "Ana", organisation="EcoTech SRL", telegram_id=1001)
        dan_view = await person(repos, "Dan", organisation="@Bio SRL", telegram_id=1002)
        project_id = await prepared_project(repos, manager, ana_view, "Compost urban")
        await projects.commit(repos, ana_view, project_id, kind="money", unit="RON", hundredths=5_000_00, note="=1+1")
        await projects.commit(repos, dan_view, project_id, kind="person_days", unit="person_days", hundredths=20_00)
        await projects.commit(repos, ana_view, project_id, kind="money", unit="RON", hundredths=6_000_00)

    await maria.send("/projects")
    await maria.tap("Compost urban")
    await maria.tap("📄 Commitments (CSV)")
    assert maria.last_message is not None
    assert maria.last_message.content.startswith("📄 Compost urban 🇷🇴: every version of every commitment, 3 in all.")
    header, rows = read_csv(document(sandbox, maria, f"project-{project_id}-commitments.csv"))
    assert header == ENGLISH_HEADER
    assert [(r["Organisation"], r["Amount"], r["Note"], r["Latest version"], r["Rank"]) for r in rows] == [
        ("EcoTech SRL", "5000.00", "'=1+1", "no", ""),
        ("EcoTech SRL", "6000.00", "", "yes", "1"),
        ("'@Bio SRL", "20.00", "", "yes", "2"),
    ]

    # The totals, in John's language, as text and as a file.
    await john.send("/projects")
    await john.tap("📊 Totaluri pe organizații")
    year = datetime.now(sandbox.settings.tz).year
    text = next(m.content for m in john.messages if "Ce au angajat" in m.content)
    assert f"Ce au angajat organizațiile membre în {year}" in text
    assert "EcoTech SRL: 1 proiect\n💰 bani: 6.000,00\u00a0lei" in text
    assert "@Bio SRL: 1 proiect\n👷 zile-om: 20 de zile-om" in text
    header, rows = read_csv(document(sandbox, john, f"totals-{year}.csv"))
    assert [(r["Organizație"], r["Valoare"]) for r in rows] == [("'@Bio SRL", "20.00"), ("EcoTech SRL", "6000.00")]


async def test_members_and_demoted_managers_pressing_the_exports_are_refused(sandbox: SandboxBot) -> None:
    assert sandbox.rt is not None
    maria = await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager")
    ana = await sandbox.person("ana", 1001, "Ana", language_code="ro", role="member", organisation="EcoTech SRL")
    for who in (maria, ana):
        await who.send("/start")
    async with unit_of_work(sandbox.rt.session_factory) as session:
        repos = Repositories(session)
        manager = await person(repos, "Maria", Role.MANAGER, telegram_id=3001)
        ana_view = await person(repos, "Ana", organisation="EcoTech SRL", telegram_id=1001)
        project_id = await prepared_project(repos, manager, ana_view, "Compost urban")
        await projects.commit(repos, ana_view, project_id, kind="money", unit="RON", hundredths=5_000_00)

    await ana.send("/projects")
    assert ana.last_message is not None and not any("Totaluri" in label for label in ana.last_message.labels)
    await ana.tap("Compost urban")
    assert ana.last_message is not None and "📄 Angajamente (CSV)" not in ana.last_message.labels
    refused = ("Îmi pare rău, doar managerii clusterului pot face acest lucru.", True)
    assert await ana.forge(f"p:export:{project_id}:0:all:0") == refused
    assert await ana.forge("p:totals:0:0:all:0") == refused

    # Maria had the card open when another process took her role away.
    await maria.send("/projects")
    await maria.tap("Compost urban")
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await session.execute(update(Person).where(Person.telegram_id == 3001).values(role=Role.MEMBER.value))
    await maria.tap("📄 Commitments (CSV)")
    assert maria.last_callback_answer == ("Sorry, only the cluster's managers can do that.", True)
    assert not any(message.has_document for message in maria.messages + ana.messages)
    async with unit_of_work(sandbox.rt.session_factory) as session:
        assert (await session.scalars(select(AuditEntry).where(AuditEntry.action == "project.exported"))).all() == []


# --- on the command line -----------------------------------------------------------------------------------------


async def test_the_operator_exports_a_project_and_the_totals_from_the_command_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Awaitable[tuple[int, str, str]]],
    i18n: I18n,
) -> None:
    from storage.db import create_engine, migrate

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    engine = create_engine(url)
    await migrate(engine)
    async with unit_of_work(create_session_factory(engine)) as session:
        repos = Repositories(session)
        maria = await person(repos, "Maria", Role.MANAGER)
        ana = await person(repos, "Ana", organisation="EcoTech SRL")
        project_id = await prepared_project(repos, maria, ana, "Compost urban")
        await projects.commit(
            repos, ana, project_id, kind="money", unit="RON", hundredths=5_000_00, now=at("2026-05-01")
        )
        await projects.commit(
            repos, ana, project_id, kind="money", unit="RON", hundredths=6_000_00, now=at("2026-05-02")
        )
        in_chat = await project_reports.commitments(repos, maria, project_id)
    await engine.dispose()
    monkeypatch.chdir(tmp_path)
    env = {"DATABASE_URL": url, "DATA_DIR": str(tmp_path), "BOT_TOKEN": None, "TIMEZONE": "Europe/Bucharest"}

    code, out, err = await cli("projects", "export", str(project_id), "commitments.csv", "--language", "en", env=env)
    assert code == 0, err
    assert out.strip() == f"project {project_id}: 1 commitments, 2 versions, written to commitments.csv"
    written = (tmp_path / "commitments.csv").read_bytes()
    # The file a manager gets in the chat, byte for byte.
    assert written == worded(i18n, "en", lambda: commitments_csv(in_chat, BUCHAREST))
    _header, rows = read_csv(written)
    assert [(r["Organisation"], r["Amount"], r["Version"], r["Author"]) for r in rows] == [
        ("EcoTech SRL", "5000.00", "1", "Ana"),
        ("EcoTech SRL", "6000.00", "2", "Ana"),
    ]

    code, out, err = await cli("projects", "export", str(project_id + 99), "other.csv", env=env)
    assert (code, out) == (1, "")
    assert f"there is no project {project_id + 99}" in err
    assert not (tmp_path / "other.csv").exists()

    # Totals on standard output (no BOM there), in the deployment's default language.
    code, out, err = await cli("projects", "totals", "--year", "2026", env=env)
    assert code == 0, err
    assert out.splitlines() == [
        "Organizație,Proiecte,Resursă,Unitate,Valoare,Proiecte cu această resursă",
        "EcoTech SRL,1,bani,RON,6000.00,1",
    ]
    code, out, err = await cli("projects", "totals", "--year", "2025", "--language", "en", "totals.csv", env=env)
    assert code == 0, err
    assert out.strip() == "2025: 0 organisations written to totals.csv"
    assert read_csv((tmp_path / "totals.csv").read_bytes()) == (
        ["Organisation", "Projects", "Resource", "Unit", "Amount", "Projects with this resource"],
        [],
    )
    code, _out, err = await cli("projects", "totals", "--year", "99999", env=env)
    assert code == 2 and "--year must be between" in err
    # The operator's exports are in the audit log as the command line's.
    engine = create_engine(url)
    async with unit_of_work(create_session_factory(engine)) as session:
        labels = (
            await session.scalars(select(AuditEntry.actor_label).where(AuditEntry.action == "project.exported"))
        ).all()
    await engine.dispose()
    assert labels == [None, "cli"]


def test_the_projects_commands_have_help(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    for args in (["projects"], ["projects", "export"], ["projects", "totals"]):
        with pytest.raises(SystemExit) as done:
            main([*args, "--help"])
        assert done.value.code == 0, args
        assert "usage: clusterbot projects" in capsys.readouterr().out


# --- the card reads its totals and the reader's lines from the database (benchmarks/projects.py) -------------------


async def test_a_cards_totals_and_the_readers_lines_are_what_stands(session_factory: Factory) -> None:
    from bot.services import project_views

    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria = await person(repos, "Maria", Role.MANAGER)
        ana = await person(repos, "Ana", organisation="EcoTech SRL")
        andrei = await person(repos, "Andrei", organisation="EcoTech SRL")
        dan = await person(repos, "Dan", organisation="Bio SRL")
        project_id = await prepared_project(repos, maria, ana, "Compost")
        for who, kind, unit, amount in [
            (dan, "equipment", "hours", 40_00),
            (ana, "money", "RON", 1_000_00),
            (dan, "money", "RON", 250_50),
            (andrei, "person_days", "person_days", 3_00),
            (ana, "money", "RON", 1_500_00),
            (dan, "money", "EUR", 10_00),
        ]:
            await projects.commit(repos, who, project_id, kind=kind, unit=unit, hundredths=amount)
        await projects.withdraw(repos, dan, project_id, kind="money", unit="EUR")
        card = await project_views.card(repos, andrei, project_id)
        totals = await projects.committed_totals(repos, project_id)
    # Money is the project's need; the others are listed apart, the first committed first.
    assert [(need.kind, need.unit, need.committed) for need in card.needs] == [(ResourceKind.MONEY, "RON", 1_750_50)]
    assert card.other_commitments == {("equipment", "hours"): 40_00, ("person_days", "person_days"): 3_00}
    assert list(card.other_commitments) == [("equipment", "hours"), ("person_days", "person_days")]
    assert {**card.other_commitments, ("money", "RON"): 1_750_50} == totals
    # Andrei sees his organisation's lines, his colleague's included, and nobody else's (the latest changed last).
    assert [(line.kind, line.amount, line.version) for line in card.viewer_lines] == [
        (ResourceKind.PERSON_DAYS, 3_00, 1),
        (ResourceKind.MONEY, 1_500_00, 2),
    ]
    assert (card.viewer_rank, card.standing) == (2, 2)
