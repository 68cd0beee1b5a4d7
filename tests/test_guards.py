"""Managers' routes are guarded once, on their routers, and a refusal no handler answers is said by one error
handler in the person's language, after the update's changes were undone."""

from __future__ import annotations

import pytest
from aiogram import Router
from sqlalchemy import func, select

from bot.config import Settings
from bot.sandbox.harness import SandboxBot
from bot.services import members
from bot.services.members import MembershipError, Refusal
from handlers import setup_routers
from handlers.guards import ManagersOnly
from storage.db import unit_of_work
from storage.models import JoinRequest, Person

REFUSED_RO = "Îmi pare rău, doar managerii clusterului pot face acest lucru."


async def test_a_member_is_refused_every_managers_command_in_romanian(sandbox: SandboxBot) -> None:
    radu = await sandbox.person("radu", 2001, "Radu", language_code="ro", role="member", organisation="Eco SRL")
    await radu.send("/start")
    for command in ("/requests", "/invite Eco SRL", "/announce", "/announcements", "/service_requests"):
        await radu.send(command)
        assert radu.last_text == REFUSED_RO, command
    # Buttons of the managers' screens, forged: an alert, in Romanian.
    for data in ("jr:1:approve", "menu:requests", "menu:announce", "ann:stop:1", "sr:1:take"):
        assert await radu.forge(data) == (REFUSED_RO, True), data


async def test_a_refusal_raised_after_a_write_leaves_nothing_behind(
    sandbox: SandboxBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The error handler answers after the rollback: what the refused handler wrote is gone."""
    ana = await sandbox.person("ana", 1001, "Ana", language_code="ro")
    original = members.submit_join_request

    async def refuses_after_writing(*args: object, **kwargs: object) -> object:
        await original(*args, **kwargs)  # type: ignore[arg-type]
        raise MembershipError(Refusal.REQUEST_PENDING)

    monkeypatch.setattr(members, "submit_join_request", refuses_after_writing)
    await ana.send("/join")
    await ana.send("Eco SRL")
    await ana.send("RO 14399840")
    await ana.send("director")
    await ana.tap("Trimiteți")
    assert ana.last_callback_answer is not None and "deja la manageri" in (ana.last_callback_answer[0] or "")
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        assert await session.scalar(select(func.count()).select_from(JoinRequest)) == 0
        assert await session.scalar(select(func.count()).select_from(Person).where(Person.telegram_id == 1001)) == 1


def _routers(router: Router) -> list[Router]:
    found = [router]
    for sub in router.sub_routers:
        found += _routers(sub)
    return found


def test_every_managers_router_guards_messages_and_presses(make_settings: object) -> None:
    assert callable(make_settings)
    settings: Settings = make_settings()
    guarded = [
        router
        for router in _routers(setup_routers(settings))
        if any(isinstance(m, ManagersOnly) for m in router.message.middleware)
    ]
    assert {router.name for router in guarded} >= {"handlers.onboarding.managers", "handlers.announcements"}
    for router in guarded:
        assert any(isinstance(m, ManagersOnly) for m in router.callback_query.middleware), router.name


def test_every_refusal_of_every_service_is_worded_in_both_languages() -> None:
    from typing import Any

    from bot.app import build_i18n
    from bot.services import announcements, catalogue, groups, projects  # noqa: F401  (their refusals)
    from bot.services.refusals import Refused
    from handlers.refusals import explain

    def subclasses(cls: type[Any]) -> list[type[Any]]:
        return [sub for direct in cls.__subclasses__() for sub in (direct, *subclasses(direct))]

    i18n = build_i18n("ro")
    context = {"status": "taken", "by": "Maria", "limit": 10, "organisation": "Eco SRL", "missing": ["budget"]}
    kinds = subclasses(Refused)
    assert len(kinds) >= 5
    for kind in kinds:
        # The enum of a subclass's reasons (its `reason` annotation), from the module that defines it.
        module = __import__(kind.__module__, fromlist=["_"])
        for reason in getattr(module, kind.__annotations__["reason"]):
            worded = {}
            for locale in ("ro", "en"):
                with i18n.context(), i18n.use_locale(locale):
                    worded[locale] = explain(kind(reason, **context))
            assert worded["ro"] and worded["en"] and worded["ro"] != worded["en"], (kind.__name__, reason)
