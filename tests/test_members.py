"""Membership rules on a real database (SQLite and PostgreSQL): joining, approvals, invites, import."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import resolve_locale
from bot.services import members
from bot.services.members import MembershipError, Refusal
from storage.db import unit_of_work
from storage.models import AuditEntry, RequestStatus, Role, utcnow
from storage.repositories import Repositories

ADMINS = frozenset({9000})


async def touch(repos: Repositories, telegram_id: int, name: str = "Ana", language_code: str | None = "ro"):
    return await members.touch_person(
        repos,
        telegram_id=telegram_id,
        first_name=name,
        last_name=None,
        username=None,
        language_code=language_code,
        admin_ids=ADMINS,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("14399840", "14399840"),
        ("RO 14399840", "14399840"),
        ("ro14399840", "14399840"),
        ("18547290", "18547290"),
        ("14399841", None),
        ("RO", None),
        ("abc", None),
        ("12345678901", None),
    ],
)
def test_cui_check_digit(raw: str, expected: str | None) -> None:
    assert members.normalise_cui(raw) == expected


def test_organisation_names_fold_diacritics_of_both_kinds() -> None:
    cedilla = members.organisation_key("Ştiinţa Verde S.R.L.")
    comma = members.organisation_key("Știința  verde SRL")
    assert cedilla == comma == "stiinta verde srl"


@pytest.mark.parametrize(
    ("chosen", "telegram", "expected"),
    [("en", "ro", "en"), (None, "ro", "ro"), (None, "ro-RO", "ro"), (None, "de", "en"), (None, None, "ro")],
)
def test_language_choice(chosen: str | None, telegram: str | None, expected: str) -> None:
    assert resolve_locale(chosen, telegram, "ro") == expected


async def test_first_contact_creates_a_guest_and_admins_come_from_config(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        guest = await touch(repos, 1001)
        admin = await touch(repos, 9000, "Ioana")
        assert guest.role is Role.GUEST and not guest.is_member
        assert admin.role is Role.ADMIN and admin.is_manager
    # Removed from ADMIN_IDS: the role goes with it.
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        demoted = await members.touch_person(
            repos,
            telegram_id=9000,
            first_name="Ioana",
            last_name=None,
            username=None,
            language_code="ro",
            admin_ids=frozenset(),
        )
        assert demoted.role is Role.GUEST


async def test_request_approval_attaches_person_to_existing_organisation(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        await members.provision(
            repos, telegram_id=2001, first_name="Radu", role=Role.MEMBER, organisation="EcoTech SRL", cui="14399840"
        )
        manager = await members.provision(repos, telegram_id=3001, first_name="Maria", role=Role.MANAGER)
        ana = await touch(repos, 1001)
        request = await members.submit_join_request(
            repos, ana, organisation_name="Ecotech S.R.L.", cui="RO14399840", position="director", default_locale="ro"
        )
        assert request.existing_organisation == "EcoTech SRL"
        assert request.existing_representatives == 1
        with pytest.raises(MembershipError) as twice:
            await members.submit_join_request(
                repos, ana, organisation_name="X", cui="14399840", position="x", default_locale="ro"
            )
        assert twice.value.reason is Refusal.REQUEST_PENDING

    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        decision = await members.decide_join_request(repos, request.id, manager, approve=True, default_locale="ro")
        assert decision.applicant.role is Role.MEMBER
        assert decision.applicant.organisation_name == "EcoTech SRL"
        assert decision.applicant.position == "director"
        with pytest.raises(MembershipError) as again:
            await members.decide_join_request(repos, request.id, manager, approve=False, default_locale="ro")
        assert again.value.reason is Refusal.REQUEST_DECIDED
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
        assert actions[-2:] == ["join.requested", "join.approved"]


async def test_only_managers_decide_and_bad_input_is_refused(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        ana = await touch(repos, 1001)
        bogdan = await touch(repos, 1002, "Bogdan")
        with pytest.raises(MembershipError) as bad_cui:
            await members.submit_join_request(
                repos, ana, organisation_name="Org", cui="14399841", position="x", default_locale="ro"
            )
        assert bad_cui.value.reason is Refusal.INVALID_CUI
        with pytest.raises(MembershipError) as too_long:
            await members.submit_join_request(
                repos, ana, organisation_name="O" * 201, cui="14399840", position="x", default_locale="ro"
            )
        assert too_long.value.reason is Refusal.TEXT_TOO_LONG
        request = await members.submit_join_request(
            repos, ana, organisation_name="Org", cui="14399840", position="x", default_locale="ro"
        )
        with pytest.raises(MembershipError) as forged:
            await members.decide_join_request(repos, request.id, bogdan, approve=True, default_locale="ro")
        assert forged.value.reason is Refusal.NOT_ALLOWED
        manager = await members.provision(repos, telegram_id=3001, first_name="Maria", role=Role.MANAGER)
        with pytest.raises(MembershipError) as unknown:
            await members.decide_join_request(repos, 999_999, manager, approve=True, default_locale="ro")
        assert unknown.value.reason is Refusal.REQUEST_NOT_FOUND
        still = await members.pending_request_of(repos, ana.id)
        assert still is not None and still.status is RequestStatus.PENDING


async def test_invite_codes_attach_at_once_and_run_out(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        org = await members.provision(
            repos, telegram_id=2001, first_name="Radu", role=Role.MEMBER, organisation="BioMed Cluj"
        )
        assert org.organisation_id is not None
        invite = await members.create_invite(repos, org.organisation_id, max_uses=1, actor_label="test")
        ana = await touch(repos, 1001)
        joined = await members.redeem_invite(repos, ana, invite.code)
        assert joined.role is Role.MEMBER and joined.organisation_name == "BioMed Cluj"
        # Using it again is harmless for her, refused for anyone else.
        assert (await members.redeem_invite(repos, joined, invite.code)).organisation_name == "BioMed Cluj"
        bogdan = await touch(repos, 1002, "Bogdan")
        with pytest.raises(MembershipError) as used_up:
            await members.redeem_invite(repos, bogdan, invite.code)
        assert used_up.value.reason is Refusal.INVITE_INVALID
        expired = await members.create_invite(
            repos, org.organisation_id, expires_at=utcnow() - timedelta(minutes=1), actor_label="test"
        )
        with pytest.raises(MembershipError):
            await members.redeem_invite(repos, bogdan, expired.code)
        with pytest.raises(MembershipError):
            await members.redeem_invite(repos, bogdan, "no-such-code")


async def test_member_list_import_is_all_or_nothing_and_rerunnable(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    bad = "organisation,cui,first_name,telegram_id\nEcoTech SRL,14399841,Ana,12x\n"
    rows, errors = members.parse_member_csv(bad)
    assert rows == []
    assert errors == ["line 2: CUI '14399841' has a wrong check digit; telegram_id '12x' is not a number"]

    good = (
        "organisation,cui,sector,first_name,last_name,telegram_id,position,role\n"
        "EcoTech SRL,RO14399840,environment,Ana,Pop,1001,director,member\n"
        "EcoTech S.R.L.,,,Dan,Ionescu,,engineer,\n"
        "Universitatea Ştefan cel Mare,,research,,,,,\n"
    )
    rows, errors = members.parse_member_csv(good)
    assert errors == []
    async with unit_of_work(session_factory) as session:
        report = await members.import_members(Repositories(session), rows)
        assert (report.organisations, report.people) == (2, 1)
        assert [(i.organisation, i.name) for i in report.invites or []] == [("EcoTech SRL", "Dan Ionescu")]
        first_code = (report.invites or [])[0].code
    async with unit_of_work(session_factory) as session:
        again = await members.import_members(Repositories(session), rows)
        assert again.organisations == 0
        assert (again.invites or [])[0].code == first_code
        from storage.models import Organisation

        assert await session.scalar(select(func.count(Organisation.id))) == 2
