"""A member's tender alert in the chat (issue 11): it arrives with Follow and Not relevant, each press is answered
and changes the buttons, and a forged button for another person's alert is refused. Through the sandbox."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from bot.sandbox.harness import SandboxBot
from bot.services.tenders.store import store_tenders
from storage.db import unit_of_work
from storage.models import AlertProfile, TenderAlert
from storage.repositories import Repositories
from tests.test_tender_alerts import NOON, SOLAR


async def _alerts(sandbox: SandboxBot) -> dict[int, TenderAlert]:
    assert sandbox.rt is not None
    async with sandbox.rt.session_factory() as session:
        return {alert.person_id: alert for alert in (await session.scalars(select(TenderAlert))).all()}


async def test_a_member_follows_an_alert_marks_another_not_relevant_and_cannot_touch_someone_elses(
    sandbox: SandboxBot,
) -> None:
    radu = await sandbox.person("radu", 2001, "Radu", language_code="en", role="member", organisation="EcoTech SRL")
    ioana = await sandbox.person("ioana", 2002, "Ioana", language_code="ro", role="member", organisation="Bio SRL")
    await radu.send("/start")
    await ioana.send("/start")
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        repos = Repositories(session)
        for telegram_id in (2001, 2002):
            person = await repos.people.by_telegram_id(telegram_id)
            assert person is not None
            await repos.alert_profiles.add(
                AlertProfile(person_id=person.id, name="Solar", cpv=["09330000"], starts_at=NOON - timedelta(days=1))
            )
        await store_tenders(repos, [SOLAR], now=NOON)

    await sandbox.run_job("tender_alerts", NOON)
    alert = radu.last_message
    assert alert is not None and "A new tender for you" in alert.content
    assert "Photovoltaic panels for Comuna <Florești> & Fiii" in alert.content
    assert alert.labels == ["⭐ Follow", "🚫 Not relevant"]
    assert ioana.last_message is not None and ioana.last_message.labels == ["⭐ Urmăriți", "🚫 Nu este relevantă"]

    await radu.tap("Follow")
    assert radu.last_callback_answer == ("⭐ Followed: I will remind you 7 and 2 days before the deadline.", False)
    assert radu.last_message is not None and radu.last_message.labels == ["✅ Following (unfollow)", "🚫 Not relevant"]
    alerts = await _alerts(sandbox)
    mine = next(alert for alert in alerts.values() if alert.followed_at is not None)
    other = next(alert for alert in alerts.values() if alert.id != mine.id)
    await radu.tap("unfollow")
    assert radu.last_message is not None and radu.last_message.labels == ["⭐ Follow", "🚫 Not relevant"]

    await ioana.tap("Nu este relevantă")
    assert ioana.last_message is not None and ioana.last_message.labels == ["⭐ Urmăriți", "↩️ Totuși relevantă"]
    assert (await _alerts(sandbox))[other.person_id].not_relevant_at is not None

    # Radu's client forges a press on Ioana's alert: refused, and her verdict stays as it was.
    answer = await radu.forge(f"ta:{other.id}:relevant:0")
    assert answer == ("This alert is not yours, or it no longer exists.", True)
    answer = await radu.forge("ta:999999:follow:0")
    assert answer == ("This alert is not yours, or it no longer exists.", True)
    after = (await _alerts(sandbox))[other.person_id]
    assert after.not_relevant_at is not None and after.followed_at is None
    # An id out of range is a stale button, never a database error.
    text, _alert = await radu.forge("ta:99999999999999999999:follow:0")
    assert text

    # The managers' figures of the week: two alerts, no follow left standing, one not relevant.
    async with sandbox.rt.session_factory() as session:
        week = await Repositories(session).tender_alerts.weekly_counts(
            NOON - timedelta(days=7), NOON + timedelta(days=1)
        )
    assert week == {"alerts": 2, "followed": 0, "not_relevant": 1}


async def test_a_digest_press_changes_only_that_tenders_buttons(sandbox: SandboxBot) -> None:
    radu = await sandbox.person("radu", 2001, "Radu", language_code="en", role="member", organisation="EcoTech SRL")
    await radu.send("/start")
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        repos = Repositories(session)
        person = await repos.people.by_telegram_id(2001)
        assert person is not None
        await repos.alert_profiles.add(
            AlertProfile(
                person_id=person.id,
                name="Solar",
                cpv=["09330000"],
                delivery="digest",
                digest_hour=9,
                starts_at=NOON - timedelta(days=1),
            )
        )
        tenders = [replace(SOLAR, source_id=f"{n}-2026", procedure_id=f"p{n}") for n in range(3)]
        await store_tenders(repos, tenders, now=NOON)
    await sandbox.run_job("tender_alerts", NOON)
    assert "tender digest" not in (radu.last_text or "")
    await sandbox.run_job("tender_digest", NOON.replace(hour=9) + timedelta(days=1))
    assert "Your tender digest" in (radu.last_text or "") and "3 new tenders" in (radu.last_text or "")
    await radu.tap("⭐ 2")
    assert radu.last_message is not None
    assert radu.last_message.labels == ["⭐ 1", "🚫 1", "✅ 2", "🚫 2", "⭐ 3", "🚫 3"]
    await radu.tap("🚫 3")
    assert radu.last_message.labels == ["⭐ 1", "🚫 1", "✅ 2", "🚫 2", "⭐ 3", "↩️ 3"]
