"""The `clusterbot` command: run the bot, open the sandbox, migrate the database, manage members and content."""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.config import Settings, settings_problems
from bot.logs import setup_logging

log = logging.getLogger("clusterbot")

NO_TOKEN = (
    "BOT_TOKEN is not set, so there is no Telegram bot to run.\n"
    "  - To try the bot without Telegram: clusterbot sandbox\n"
    "  - To run it for real: get a token from @BotFather and put BOT_TOKEN=... in .env (see .env.example)."
)


CONSOLE_STARTING = "Starting the sandbox…"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterbot",
        description="Telegram assistant for the members of a business cluster. "
        "Without a subcommand: `run` when BOT_TOKEN is set, else `sandbox`; `clusterbot --as NAME` is "
        "`clusterbot sandbox --as NAME`.",
    )
    # `clusterbot --as maria` is `clusterbot sandbox --as maria` (its own dest: a subcommand's defaults would
    # overwrite a shared one).
    parser.add_argument("--as", dest="sandbox_as", metavar="NAME", help="open the sandbox chatting as NAME")
    parser.add_argument("--db", dest="sandbox_db", type=Path, metavar="FILE", help="the sandbox's SQLite file")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("run", help="run the bot against Telegram (long polling); needs BOT_TOKEN")

    sandbox = sub.add_parser(
        "sandbox",
        help="try the bot with no Telegram account and no network",
        description="Runs the real bot against a local Bot API server. Interactive by default; "
        "with --script, runs a JSON Lines scenario and prints its transcript.",
    )
    sandbox.add_argument("--script", type=Path, help="a scenario file (JSON Lines); exit 0 only if every step passed")
    sandbox.add_argument("--json", action="store_true", help="print the transcript as JSON Lines")
    sandbox.add_argument(
        "--db",
        type=Path,
        help="SQLite file to use (default: a fresh one for a scenario, data/sandbox.sqlite3 for the console)",
    )
    sandbox.add_argument("--as", dest="as_name", help="console: the person to chat as first")

    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("upgrade", help="migrate the database to the newest schema")
    down = db_sub.add_parser("downgrade", help="migrate down to a revision")
    down.add_argument("revision", help="an Alembic revision, or 'base'")
    db_sub.add_parser("current", help="print the database's schema revision")

    members = sub.add_parser("members", help="organisations, representatives, roles and invite codes")
    m_sub = members.add_subparsers(dest="members_command", metavar="ACTION", required=True)
    m_list = m_sub.add_parser("list", help="list people with their organisation and role")
    m_list.add_argument("--role", choices=["guest", "member", "manager", "admin"])
    m_add = m_sub.add_parser("add", help="add or update a person by Telegram id")
    m_add.add_argument("--telegram-id", type=int, required=True)
    m_add.add_argument("--name", required=True, help="first name (and last name)")
    m_add.add_argument("--organisation", help="organisation name; created if missing")
    m_add.add_argument("--cui", help="the organisation's fiscal code")
    m_add.add_argument("--position", help="their role in the organisation")
    m_add.add_argument("--role", choices=["guest", "member", "manager"], default="member")
    m_sub.add_parser("requests", help="list join requests waiting for a decision")
    m_approve = m_sub.add_parser("approve", help="approve a join request (or --reject it)")
    m_approve.add_argument("request_id", type=int)
    m_approve.add_argument("--reject", action="store_true")
    m_mgr = m_sub.add_parser("make-manager", help="give a person the manager role")
    m_mgr.add_argument("telegram_id", type=int)
    m_inv = m_sub.add_parser("invite", help="create an invite link for an organisation (name or CUI)")
    m_inv.add_argument("organisation")
    m_inv.add_argument("--uses", type=int, help="how many people may use it (default: unlimited)")
    m_sub.add_parser("invites", help="list invite codes")
    m_imp = m_sub.add_parser(
        "import",
        help="import a member list (CSV) and write invite links for those not yet on Telegram",
        description="CSV columns (header required): organisation, cui, sector, first_name, last_name, "
        "telegram_id, position, role. People with a telegram_id are added at once; for the others an "
        "invite link is written to --out, because a bot can only message people who have started it.",
    )
    m_imp.add_argument("file", type=Path)
    m_imp.add_argument("--out", type=Path, default=Path("invites.csv"), help="where to write the invite links")
    person = sub.add_parser(
        "person",
        help="a person's data rights on their request: export what the bot keeps, or forget them",
        description="PERSON is the Telegram id `clusterbot members list` shows. Both are audited (without "
        "personal data). Forgetting erases the person's personal data and keeps their organisation's "
        'commitments and the audit trail with "a former representative"; it cannot be undone.',
    )
    p_sub = person.add_subparsers(dest="person_command", metavar="ACTION", required=True)
    p_export = p_sub.add_parser("export", help="write everything the bot keeps about the person to FILE (JSON)")
    p_export.add_argument("telegram_id", type=int, metavar="PERSON")
    p_export.add_argument("file", type=Path, metavar="FILE")
    p_forget = p_sub.add_parser("forget", help="erase the person's personal data (needs --yes)")
    p_forget.add_argument("telegram_id", type=int, metavar="PERSON")
    p_forget.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    announce = sub.add_parser(
        "announce",
        help="send an announcement to members (each in their language), now or at a set time",
        description="Queues an announcement through the delivery engine. Texts are Telegram HTML. "
        "Give --ro and --en files, or one --text file for everyone. The running bot delivers it; "
        "--wait delivers it from this process (needs BOT_TOKEN) and prints the delivery report.",
    )
    announce.add_argument("--audience", choices=["all", "ro", "en"], default="all", help="all members, or one language")
    announce.add_argument("--group", metavar="KEY|ID", help="only the members of this working group (its key or id)")
    announce.add_argument(
        "--project",
        metavar="ID",
        help="only the participants of this project, in preparation or running (its id): the people of the "
        "organisations standing in it, of those taking part once its list is closed",
    )
    announce.add_argument("--ro", type=Path, help="the Romanian text (a file)")
    announce.add_argument("--en", type=Path, help="the English text (a file)")
    announce.add_argument("--text", type=Path, help="one text for everyone (a file)")
    announce.add_argument("--at", help="when, in the cluster's time zone: 'YYYY-MM-DD HH:MM' (default: now)")
    announce.add_argument("--wait", action="store_true", help="deliver now from this process and print the report")
    announce_sub = sub.add_parser(
        "announcements",
        help="list scheduled announcements (--all: past ones too), cancel one, or print one's delivery report",
    )
    announce_sub.add_argument("--cancel", type=int, metavar="ID", help="cancel announcement ID")
    announce_sub.add_argument("--all", action="store_true", help="every announcement, sent and cancelled ones too")
    announce_sub.add_argument(
        "--report", type=int, metavar="ID", help="the delivery report of announcement ID, with who was not reached"
    )
    announce_sub.add_argument("--json", action="store_true", help="with --report or --all: print JSON")
    sub.add_parser(
        "deliver",
        help="send what the outbox has due, then exit (after a crash, without starting the bot); needs BOT_TOKEN",
        description="Sends the messages that are due (announcements, notices) as the bot's own sender would, "
        "taking back what a crashed bot on this host held, and prints what was sent and what failed. Run it "
        "while the bot is stopped: it sends under the bot's sender name, which two live senders must not share.",
    )

    seed = sub.add_parser(
        "seed",
        help="load the packaged services catalogue and working groups (safe to run again)",
        description="Loads the services catalogue shipped with the bot (bot/data/catalogue.yaml) and the working "
        "groups. Entries are matched by key: new ones are added, changed texts and order are updated, and what "
        "the file no longer has is hidden, never deleted. The file wins over changes made in the chat; to keep "
        "those, use `clusterbot catalogue export` and `import` instead.",
    )
    seed.add_argument("--catalogue", type=Path, metavar="FILE", help="a catalogue file instead of the packaged one")
    catalogue = sub.add_parser("catalogue", help="export or import the services catalogue (YAML) for bulk edits")
    c_sub = catalogue.add_subparsers(dest="catalogue_command", metavar="ACTION", required=True)
    c_export = c_sub.add_parser(
        "export", help="write the whole catalogue, hidden entries included, to FILE ('-': standard output)"
    )
    c_export.add_argument("file")
    c_import = c_sub.add_parser(
        "import",
        help="load an edited export: all of it, or nothing when any line is wrong",
        description="The file has the format of `catalogue export`: categories, each with its services, in the "
        "order members see them; every title and description in Romanian (ro) and English (en); `hidden: true` "
        "hides an entry. Entries are matched by key; what the file no longer has is hidden, never deleted. "
        "Every problem is reported with its line, and then nothing is changed.",
    )
    c_import.add_argument("file", type=Path)
    c_import.add_argument("--check", action="store_true", help="only check the file; change nothing")

    projects = sub.add_parser(
        "projects",
        help="managers' files of projects (CSV): a project's commitments, totals per organisation",
        description="CSV files for Excel or LibreOffice (UTF-8 with a BOM, one header row in the chosen language; "
        "amounts with a decimal point, times in TIMEZONE), the same as managers get in the chat.",
    )
    p_sub = projects.add_subparsers(dest="projects_command", metavar="ACTION", required=True)
    p_export = p_sub.add_parser(
        "export", help="every version of every commitment to project ID, to FILE ('-': standard output)"
    )
    p_export.add_argument("project_id", type=int, metavar="ID")
    p_export.add_argument("file", metavar="FILE")
    p_totals = p_sub.add_parser(
        "totals",
        help="what each member organisation committed to the cluster's projects in a year, to FILE "
        "(default: standard output)",
        description="Per organisation and resource: the latest amounts of the commitments that began in that year "
        "(in TIMEZONE) and still stand, in projects not cancelled, and in how many projects.",
    )
    p_totals.add_argument("file", metavar="FILE", nargs="?", default="-")
    p_totals.add_argument("--year", type=int, help="the year (default: this one)")
    for command in (p_export, p_totals):
        command.add_argument(
            "--language", choices=["ro", "en"], help="the language of the headers and kinds (default: DEFAULT_LOCALE)"
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.sandbox_as is not None or args.sandbox_db is not None:
        if args.command not in (None, "sandbox"):
            parser.error(f"--as and --db before a command belong to the sandbox, not to {args.command!r}")
        # `clusterbot --as NAME` opens the sandbox whether or not BOT_TOKEN is set: NAME is one of its people.
        args.command = "sandbox"
        args.as_name = getattr(args, "as_name", None) or args.sandbox_as
        args.db = getattr(args, "db", None) or args.sandbox_db
    try:
        settings = Settings()
    except ValidationError as error:
        print(settings_problems(error), file=sys.stderr)
        return 2
    setup_logging(settings)
    command = args.command or ("run" if settings.telegram.bot_token else "sandbox")
    if command == "run":
        if not settings.telegram.bot_token:
            print(NO_TOKEN, file=sys.stderr)
            return 2
        from bot.app import run_polling

        asyncio.run(run_polling(settings))
        return 0
    if command == "sandbox":
        return sandbox_command(args, settings)
    if command == "db":
        return asyncio.run(db_command(args, settings))
    if command == "members":
        return asyncio.run(members_command(args, settings))
    if command == "person":
        return asyncio.run(person_command(args, settings))
    if command == "announce":
        return asyncio.run(announce_command(args, settings))
    if command == "announcements":
        return asyncio.run(announcements_command(args, settings))
    if command == "deliver":
        if not settings.telegram.bot_token:
            print("deliver sends through Telegram and needs BOT_TOKEN (see .env.example)", file=sys.stderr)
            return 2
        return asyncio.run(deliver_command(settings))
    if command == "seed":
        return asyncio.run(seed_command(args, settings))
    if command == "catalogue":
        return catalogue_command(args, settings)
    if command == "projects":
        return asyncio.run(projects_command(args, settings))
    return 2


def sandbox_command(args: argparse.Namespace, settings: Settings) -> int:
    if getattr(args, "script", None):
        from bot.sandbox.scenario import run_scenario_file

        return asyncio.run(run_scenario_file(args.script, settings, db=args.db, as_json=args.json))
    # Before the import: loading the bot (aiogram, handlers, the sandbox server) is most of the start, about
    # 4 s of the 4.5 s before the console's banner, and 11 to 20 s on a loaded machine.
    print(CONSOLE_STARTING, flush=True)
    from bot.sandbox.console import run_console

    return asyncio.run(run_console(settings, db=getattr(args, "db", None), as_name=getattr(args, "as_name", None)))


async def db_command(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import current_revision, engine_for, migrate

    engine = engine_for(settings.database)
    try:
        if args.db_command == "upgrade":
            await migrate(engine)
            print(f"database at revision {await current_revision(engine)}")
        elif args.db_command == "downgrade":
            await migrate(engine, args.revision, downgrade=True)
            print(f"database at revision {await current_revision(engine)}")
        else:
            print(await current_revision(engine) or "empty (run: clusterbot db upgrade)")
    finally:
        await engine.dispose()
    return 0


async def _with_repos(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    from storage.db import create_session_factory, engine_for, migrate, unit_of_work
    from storage.repositories import Repositories

    engine = engine_for(settings.database)
    try:
        await migrate(engine)
        async with unit_of_work(create_session_factory(engine)) as session:
            return await work(Repositories(session))
    finally:
        await engine.dispose()


async def _bot_username(settings: Settings) -> str:
    if settings.telegram.bot_username:
        return settings.telegram.bot_username
    if settings.telegram.bot_token:
        from bot.app import create_bot

        bot = create_bot(settings)
        try:
            me = await bot.me()
            return me.username or ""
        finally:
            await bot.session.close()
    return "<your_bot>"


async def members_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import members
    from bot.services.members import MembershipError
    from storage.models import Role

    action = args.members_command

    async def work(repos: Any) -> int:
        if action == "list":
            people = await members.list_people(repos, Role(args.role) if args.role else None)
            writer = csv.writer(sys.stdout)
            writer.writerow(["telegram_id", "name", "role", "organisation", "position", "language"])
            for p in people:
                writer.writerow(
                    [
                        p.telegram_id,
                        p.full_name,
                        p.role.value,
                        p.organisation_name or "",
                        p.position or "",
                        p.language or "",
                    ]
                )
            return 0
        if action == "add":
            first, _, last = args.name.partition(" ")
            person = await members.provision(
                repos,
                telegram_id=args.telegram_id,
                first_name=first,
                last_name=last or None,
                role=Role(args.role),
                organisation=args.organisation,
                cui=args.cui,
                position=args.position,
            )
            print(f"{person.full_name} ({person.telegram_id}): {person.role.value}, {person.organisation_name or '-'}")
            return 0
        if action == "requests":
            pending = await repos.join_requests.pending()
            if not pending:
                print("no join requests are waiting")
            for request, person in pending:
                print(
                    f"#{request.id} {person.first_name} ({person.telegram_id}): {request.organisation_name}, "
                    f"CUI {request.cui}, {request.position}"
                )
            return 0
        if action == "approve":
            decision = await members.decide_join_request(
                repos,
                args.request_id,
                None,
                approve=not args.reject,
                actor_label="cli",
                default_locale=settings.default_locale,
            )
            decided.append(decision)
            return 0
        if action == "make-manager":
            person = await members.set_role(repos, args.telegram_id, Role.MANAGER)
            print(f"{person.full_name} ({person.telegram_id}) is now a manager")
            return 0
        if action == "invite":
            organisation = await members.find_organisation(repos, args.organisation)
            if organisation is None:
                print(f"no organisation called {args.organisation!r}", file=sys.stderr)
                return 1
            invite = await members.create_invite(repos, organisation.id, max_uses=args.uses, actor_label="cli")
            print(f"https://t.me/{await _bot_username(settings)}?start={invite.code}")
            return 0
        if action == "invites":
            username = await _bot_username(settings)
            for invite in await members.list_invites(repos):
                limit = "unlimited" if invite.max_uses is None else str(invite.max_uses)
                state = "revoked" if invite.revoked else f"used {invite.uses}/{limit}"
                print(
                    f"{invite.organisation_name}\t{invite.label or ''}\t{state}\thttps://t.me/{username}?start={invite.code}"
                )
            return 0
        if action == "import":
            rows, errors = members.parse_member_csv(args.file.read_text(encoding="utf-8-sig"))
            if errors:
                for error in errors:
                    print(f"{args.file}: {error}", file=sys.stderr)
                print("nothing was imported", file=sys.stderr)
                return 1
            report = await members.import_members(repos, rows)
            username = await _bot_username(settings)
            with args.out.open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                writer.writerow(["organisation", "name", "position", "invite_link"])
                for imported in report.invites or []:
                    writer.writerow(
                        [
                            imported.organisation,
                            imported.name,
                            imported.position or "",
                            f"https://t.me/{username}?start={imported.code}",
                        ]
                    )
            print(
                f"{report.organisations} new organisation(s), {report.people} person(s) added, "
                f"{len(report.invites or [])} invite link(s) written to {args.out}"
            )
            return 0
        return 2

    decided: list[members.Decision] = []
    try:
        code = await _with_repos(settings, work)
    except MembershipError as error:
        print(f"refused: {error.reason.value.replace('_', ' ')}", file=sys.stderr)
        return 1
    for decision in decided:
        # Committed, and with it the applicant's notice in the outbox.
        verdict = "approved" if decision.approved else "rejected"
        print(
            f"request #{decision.request.id} {verdict}; {decision.applicant.full_name} is told by the running bot "
            "(or `clusterbot deliver`), and sees it in /profile"
        )
    return code


def _read_texts(args: argparse.Namespace) -> dict[str, str]:
    if args.text and (args.ro or args.en):
        raise SystemExit("give either --text, or --ro and --en")
    files = {"ro": args.ro, "en": args.en} if not args.text else {"all": args.text}
    texts = {locale: path.read_text(encoding="utf-8") for locale, path in files.items() if path is not None}
    if not texts:
        raise SystemExit("give the text: --ro FILE and --en FILE, or --text FILE")
    return texts


def _parse_when(value: str | None, settings: Settings) -> Any:
    from datetime import datetime

    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise SystemExit(f"--at {value!r}: write it as YYYY-MM-DD HH:MM") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=settings.tz)


async def person_command(args: argparse.Namespace, settings: Settings) -> int:
    """Export or forget a person; what was done is printed once it is committed (a refusal changes nothing)."""
    from bot.services import privacy
    from bot.services.privacy import PrivacyError

    async def work(repos: Any) -> tuple[int, str]:
        row = await repos.people.by_telegram_id(args.telegram_id)
        if row is None:
            return 1, f"no person with Telegram id {args.telegram_id}"
        try:
            if args.person_command == "export":
                data = privacy.export_json(await privacy.export(repos, row.id))
                await asyncio.to_thread(args.file.write_bytes, data)
                await privacy.record_export(repos, row.id, actor_label="cli")
                return 0, f"person {row.id}: their data written to {args.file}"
            await privacy.ensure_can_forget(repos, row.id)
            if not args.yes:
                return 1, f"person {row.id} would be forgotten, which cannot be undone: run again with --yes"
            forgotten = await privacy.forget(repos, row.id, default_locale=settings.default_locale, actor_label="cli")
        except PrivacyError as refusal:
            return 1, f"person {row.id}: refused ({refusal.reason.value})"
        removed = ", ".join(f"{name} {count}" for name, count in forgotten.removed.items())
        return 0, f"person {row.id} forgotten ({removed})"

    code, said = await _with_result(settings, work)
    print(said, file=sys.stdout if code == 0 else sys.stderr)
    return int(code)


async def announce_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.delivery import InvalidContent
    from bot.services import announcements

    texts = _read_texts(args)
    at = _parse_when(args.at, settings)
    if args.wait and not settings.telegram.bot_token:
        print("--wait delivers from this process and needs BOT_TOKEN", file=sys.stderr)
        return 2

    if args.group and args.project:
        print("--group and --project: choose one audience", file=sys.stderr)
        return 2

    async def work(repos: Any) -> Any:
        group_id = None
        if args.group:
            found = await repos.groups.by_keys([args.group])
            group_id = found[args.group].id if args.group in found else int(args.group) if args.group.isdigit() else 0
        project_id = (int(args.project) if args.project.isdigit() else 0) if args.project else None
        if args.project:
            audience = announcements.Audience.PROJECT
        else:
            audience = announcements.Audience.GROUP if args.group else announcements.Audience(args.audience)
        return await announcements.create(
            repos,
            audience=audience,
            group_id=group_id,
            project_id=project_id,
            content=announcements.make_content(texts),
            default_locale=settings.default_locale,
            at=at,
            actor_label="cli",
        )

    try:
        created: list[Any] = []

        async def keep(repos: Any) -> int:
            created.append(await work(repos))
            return 0

        await _with_repos(settings, keep)
    except InvalidContent as error:
        print(f"not queued: {error}", file=sys.stderr)
        return 1
    except announcements.AnnouncementError as error:
        problem = {
            "group_not_found": "no such working group",
            "group_dissolved": "that working group is dissolved",
            "project_not_found": "no such project",
            "project_not_open": "that project is neither in preparation nor running",
        }
        which = args.project if error.reason.startswith("project_") else args.group
        print(f"not queued: {problem.get(error.reason, error.reason)} ({which})", file=sys.stderr)
        return 1
    view = created[0]
    if view.scheduled_at is not None:
        print(f"announcement #{view.id} scheduled for {view.scheduled_at.astimezone(settings.tz):%Y-%m-%d %H:%M}")
        return 0
    print(f"announcement #{view.id}: {view.queued} message(s) queued")
    if not args.wait:
        print("the running bot delivers them (clusterbot run)")
        return 0
    return await _deliver_and_report(settings, view.id, view.batch)


async def _deliver_and_report(settings: Settings, announcement_id: int, batch: str) -> int:
    from bot.app import create_bot, create_sender
    from bot.services import announcements
    from storage.db import create_session_factory, engine_for, unit_of_work
    from storage.repositories import Repositories

    engine = engine_for(settings.database)
    bot = create_bot(settings)
    try:
        factory = create_session_factory(engine)
        # Its own stable name: a rerun after a crash takes back what this one held, and it never takes what
        # the running bot (under the plain name) holds.
        sender = create_sender(settings, factory, bot, name=f"{settings.delivery.effective_sender_name[:59]}:cli")
        await sender.drain()
        async with unit_of_work(factory) as session:
            report = await announcements.report(Repositories(session), announcement_id)
    finally:
        await bot.session.close()
        await engine.dispose()
    print(
        f"{batch}: {report.sent} sent, {report.blocked} blocked the bot, {report.invalid} chat(s) not found, "
        f"{report.failed} failed, {report.waiting} waiting"
    )
    for problem in report.undelivered:
        print(f"  not delivered: chat {problem.chat_id} ({problem.status}) {problem.error or ''}".rstrip())
    return 0 if report.failed == 0 else 1


async def announcements_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import announcements

    async def work(repos: Any) -> int:
        if args.cancel is not None:
            withdrawn = await announcements.cancel(repos, args.cancel, actor_label="cli")
            print(f"announcement #{args.cancel} cancelled; {withdrawn} message(s) withdrawn")
            return 0
        if args.report is not None:
            return await _print_report(repos, settings, args.report, as_json=args.json)
        if args.all:
            return await _print_all(repos, settings, as_json=args.json)
        for view in await announcements.scheduled(repos):
            when = view.scheduled_at.astimezone(settings.tz) if view.scheduled_at else None
            audience = f"group {view.group.en or view.group.ro}" if view.group else view.audience.value
            if view.project is not None:
                audience = f"project {view.project.en or view.project.ro}"
            print(f"#{view.id}\t{audience}\t{when:%Y-%m-%d %H:%M}" if when else f"#{view.id}")
        return 0

    try:
        return await _with_repos(settings, work)
    except announcements.AnnouncementError as error:
        print(f"refused: {error.reason.replace('_', ' ')}", file=sys.stderr)
        return 1


# What the chat's "Who was not reached" says of each outcome.
_NOT_REACHED = {"blocked": "blocked the bot", "invalid": "chat not found", "failed": "failed"}


def _state(status: str, counts: dict[str, int]) -> str:
    """scheduled, cancelled, sending (messages still waiting) or done."""
    if status != "queued":
        return status
    return "sending" if counts.get("pending", 0) + counts.get("sending", 0) else "done"


def _tally(counts: dict[str, int]) -> dict[str, int]:
    """An outbox batch's counts per status, as the delivery report names them."""
    return {
        "total": sum(counts.values()),
        "sent": counts.get("sent", 0),
        "blocked": counts.get("blocked", 0),
        "invalid": counts.get("invalid", 0),
        "failed": counts.get("failed", 0),
        "waiting": counts.get("pending", 0) + counts.get("sending", 0),
    }


def _counts_text(tally: dict[str, int]) -> str:
    return (
        f"{tally['sent']} sent, {tally['blocked']} blocked the bot, {tally['invalid']} chat(s) not found, "
        f"{tally['failed']} failed, {tally['waiting']} waiting"
    )


async def _print_report(repos: Any, settings: Settings, announcement_id: int, *, as_json: bool) -> int:
    import json

    from bot.services import announcements

    row = await repos.announcements.get(announcement_id)
    if row is None:
        raise announcements.AnnouncementError("not_found")
    report = await announcements.report(repos, announcement_id)
    # Names, as the chat's "Who was not reached" shows them (the chat id for someone no longer known).
    names = await repos.people.names([p.person_id for p in report.undelivered if p.person_id is not None])
    missed = [
        {"name": names.get(p.person_id or 0, str(p.chat_id)), "status": p.status, "error": p.error}
        for p in report.undelivered
    ]
    state = _state(row.status, report.counts)
    tally = _tally(report.counts)
    if as_json:
        document = {
            "id": row.id,
            "batch": report.batch,
            "audience": row.audience,
            "group_id": row.group_id,
            "project_id": row.project_id,
            "state": state,
            "scheduled_at": row.scheduled_at.isoformat() if row.scheduled_at else None,
            "queued_at": row.queued_at.isoformat() if row.queued_at else None,
            "cancelled_at": row.cancelled_at.isoformat() if row.cancelled_at else None,
            **tally,
            "not_reached": missed,
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    print(f"announcement #{row.id} ({row.audience}, {state}): {_counts_text(tally)}")
    if missed:
        print("Who was not reached:")
    for who in missed:
        reason = _NOT_REACHED.get(who["status"], who["status"])
        print(f"  {who['name']}: {reason}")
    return 0


async def _print_all(repos: Any, settings: Settings, *, as_json: bool) -> int:
    import json

    from bot.services.announcements import batch_of

    rows = await repos.announcements.all_many()
    counts = await repos.outbox.batch_counts_many([batch_of(row.id) for row in rows])
    listing = []
    for row in rows:
        batch = counts[batch_of(row.id)]
        # Cancelled, else queued, else scheduled for: the moment that says most of where it stands.
        moment = row.cancelled_at or row.queued_at or row.scheduled_at or row.created_at
        listing.append(
            {
                "id": row.id,
                "audience": row.audience,
                "group_id": row.group_id,
                "project_id": row.project_id,
                "state": _state(row.status, batch),
                "when": moment.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M"),
                **_tally(batch),
            }
        )
    if as_json:
        print(json.dumps(listing, indent=2))
        return 0
    for item in listing:
        audience = f"group {item['group_id']}" if item["audience"] == "group" else item["audience"]
        if item["audience"] == "project":
            audience = f"project {item['project_id']}"
        print(f"#{item['id']}\t{audience}\t{item['state']}\t{item['when']}\t{_counts_text(item)}")
    return 0


async def deliver_command(settings: Settings) -> int:
    """Drain what the outbox has due now with the bot's own sender, print the outcome; 1 if any failed."""
    from bot.app import create_bot, create_sender
    from storage.db import create_session_factory, engine_for, migrate, unit_of_work
    from storage.repositories import Repositories

    engine = engine_for(settings.database)
    try:
        await migrate(engine)
        factory = create_session_factory(engine)
        bot = create_bot(settings)
        try:
            sender = create_sender(settings, factory, bot)
            await sender.drain(until_empty=False)
        finally:
            await bot.session.close()
        async with unit_of_work(factory) as session:
            left, next_at = await Repositories(session).outbox.unfinished()
    finally:
        await engine.dispose()
    stats = sender.stats
    print(
        f"{stats.sent} sent, {stats.blocked} blocked the bot, {stats.invalid} chat(s) not found, "
        f"{stats.failed} failed, {stats.retried} to try again"
    )
    if left:
        when = f", the next at {next_at.astimezone(settings.tz):%Y-%m-%d %H:%M:%S}" if next_at else ""
        print(f"{left} message(s) not due yet{when}: clusterbot deliver again then, or clusterbot run")
    else:
        print("the outbox is empty")
    return 0 if stats.failed == 0 else 1


def _file_problems(path: Path | str, error: Any, outcome: str) -> int:
    """A catalogue file's problems (CatalogueFileError), each with its line, in English."""
    from bot.app import build_i18n
    from handlers.catalogue_problems import describe

    i18n = build_i18n()
    with i18n.context(), i18n.use_locale("en"):
        for problem in error.problems:
            print(f"{path}: {describe(problem)}", file=sys.stderr)
    print(outcome, file=sys.stderr)
    return 1


async def seed_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import catalogue, groups
    from bot.services.catalogue_file import CatalogueFileError

    path = args.catalogue or catalogue.SEED_FILE

    async def work(repos: Any) -> int:
        report = await catalogue.seed_catalogue(repos, path=path, actor_label="cli")
        print(f"catalogue categories: {report.categories}")
        print(f"catalogue services: {report.services}")
        print(f"working groups: {await groups.seed_groups(repos, actor_label='cli')} added or changed")
        return 0

    try:
        return await _with_repos(settings, work)
    except CatalogueFileError as error:
        return _file_problems(path, error, "nothing was loaded")
    except OSError as error:
        print(f"cannot read {path}: {error.strerror}", file=sys.stderr)
        return 2


def catalogue_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services import catalogue
    from bot.services.catalogue_file import CatalogueFileError, parse_catalogue

    if args.catalogue_command == "export":
        text = asyncio.run(_with_result(settings, catalogue.export_catalogue))
        if args.file == "-":
            sys.stdout.write(text)
        else:
            Path(args.file).write_text(text, encoding="utf-8")
            print(f"catalogue written to {args.file}")
        return 0
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        print(f"cannot read {args.file}: {getattr(error, 'strerror', None) or error}", file=sys.stderr)
        return 2
    try:
        if args.check:
            entries = parse_catalogue(text)
            services = sum(len(entry.services) for entry in entries)
            print(f"{args.file} can be imported: {len(entries)} categories, {services} services")
            return 0

        async def load(repos: Any) -> Any:
            return await catalogue.import_catalogue(repos, text, actor_label="cli")

        report = asyncio.run(_with_result(settings, load))
    except CatalogueFileError as error:
        return _file_problems(args.file, error, "nothing was imported" if not args.check else "it cannot be imported")
    print(f"categories: {report.categories}")
    print(f"services: {report.services}")
    return 0


async def _with_result(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """What `work` returns, from one committed transaction."""
    result: list[Any] = []

    async def keep(repos: Any) -> int:
        result.append(await work(repos))
        return 0

    await _with_repos(settings, keep)
    return result[0]


def _write_csv(data: bytes, file: str) -> None:
    """A CSV file as written; on standard output without the BOM, which only spreadsheets want."""
    if file == "-":
        sys.stdout.write(data.decode("utf-8-sig"))
        sys.stdout.flush()
    else:
        Path(file).write_bytes(data)


async def projects_command(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import datetime

    from bot.app import build_i18n
    from bot.services import project_reports
    from bot.services.projects import ProjectError
    from handlers.projects import reports

    i18n = build_i18n(settings.default_locale)
    locale = args.language or settings.default_locale
    # Status lines go to standard error when the file itself goes to standard output.
    status = sys.stderr if args.file == "-" else sys.stdout
    if args.projects_command == "export":
        project_id = args.project_id
        if not 0 < project_id < 2**63:
            print(f"there is no project {project_id}", file=sys.stderr)
            return 1
        try:
            report = await _with_result(settings, lambda repos: project_reports.commitments(repos, None, project_id))
        except ProjectError:
            print(f"there is no project {project_id}", file=sys.stderr)
            return 1
        with i18n.context(), i18n.use_locale(locale):
            data = reports.commitments_csv(report, settings.tz)
        _write_csv(data, args.file)
        where = "standard output" if args.file == "-" else args.file
        print(
            f"project {project_id}: {report.lines} commitments, {len(report.rows)} versions, written to {where}",
            file=status,
        )
        return 0
    year = args.year if args.year is not None else datetime.now(settings.tz).year
    if not project_reports.FIRST_YEAR <= year <= project_reports.LAST_YEAR:
        print(f"--year must be between {project_reports.FIRST_YEAR} and {project_reports.LAST_YEAR}", file=sys.stderr)
        return 2
    totals = await _with_result(settings, lambda repos: project_reports.yearly_totals(repos, None, year, settings.tz))
    with i18n.context(), i18n.use_locale(locale):
        data = reports.totals_csv(totals)
    _write_csv(data, args.file)
    if args.file != "-":
        print(f"{year}: {len(totals)} organisations written to {args.file}")
    return 0
