"""The notice path: services record typed notices, the registry words each kind in its reader's language when
the sender sends it, and a row nobody can word is set aside without stopping the rest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.app import build_i18n
from bot.notices import Notice, NoticeKind, recipient, tell
from bot.outbox import validate_content
from bot.sandbox.harness import SandboxBot
from bot.services import members
from bot.services.catalogue import ServiceRequestView
from bot.services.groups import GroupNotice, Texts
from bot.services.members import JoinRequestView, PersonView
from bot.services.project_notices import OutcomeNews, ProjectNotice, ProposedTo
from bot.services.tenders.alerts import tender_params
from handlers.notices import NOTICES, renderer
from storage.db import unit_of_work
from storage.models import (
    GroupEventKind,
    OutboxMessage,
    OutboxStatus,
    Person,
    RequestStatus,
    Role,
    ServiceRequestStatus,
)
from storage.repositories import Repositories

# A name as people write them: markup characters must arrive as text, never as HTML.
ODD = "Firma <Verde> & Fiii"


def _applicant() -> PersonView:
    return PersonView(7, 1007, ODD, None, "dan_ok", None, "en", Role.GUEST, "active", None, None, None)


def _service_request(status: ServiceRequestStatus) -> ServiceRequestView:
    return ServiceRequestView(
        id=12,
        service_id=3,
        service_title_ro=f"Laborator {ODD}",
        service_title_en=f"Laboratory {ODD}",
        person_id=7,
        person_name=ODD,
        person_username=None,
        organisation_name=ODD,
        note="Avem nevoie de <analize> & teste",
        status=status,
        handled_by_name="Maria",
        decline_reason="Nu avem capacitate" if status is ServiceRequestStatus.DECLINED else None,
        created_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
    )


def _group(kind: GroupEventKind) -> Notice:
    title = Texts(ro=f"Grupul {ODD}", en=None)
    return GroupNotice(
        kind,
        5,
        title,
        organisations=2,
        reason="Obiectiv <atins>",
        objective=Texts(ro="Noul obiectiv", en="The new objective"),
        terms=Texts(ro="Termeni", en="Terms"),
        proposer=f"Ana Pop ({ODD})",
    ).notice()


def samples() -> dict[NoticeKind, list[dict[str, Any]]]:
    """The parameters each kind's service records (built by the services' own code)."""
    request = JoinRequestView(4, 7, ODD, "14399840", "director", RequestStatus.PENDING, datetime.now(UTC), ODD, 2)
    new_organisation = JoinRequestView(5, 7, ODD, "14399840", "director", RequestStatus.PENDING, datetime.now(UTC))
    decided = {"organisation_name": ODD, "member": True, "manager": False}
    found: dict[NoticeKind, list[dict[str, Any]]] = {
        NoticeKind.MESSAGE: [{"ro": {"text": "Salut"}, "en": {"text": "Hello"}}],
        NoticeKind.JOIN_REQUESTED: [
            members.join_request_params(request, _applicant()),
            members.join_request_params(new_organisation, _applicant()),
            # A manager's copy edited once decided (bot.notices.tell_copies).
            members.join_request_params(request, _applicant())
            | {"decided": "rejected", "decided_by": ODD, "decided_at": "2026-12-01T10:30:00+02:00", "edit_of": "x"},
        ],
        NoticeKind.JOIN_DECIDED: [
            {**decided, "approved": True},
            {**decided, "approved": False, "member": False},
            {**decided, "approved": False, "member": False, "reason": "Codul <fiscal> & altele"},
        ],
        NoticeKind.SERVICE_REQUESTED: [
            _service_request(ServiceRequestStatus.OPEN).params(),
            _service_request(ServiceRequestStatus.DECLINED).params() | {"changed_at": "2026-12-01T10:30:00+02:00"},
        ],
        NoticeKind.SERVICE_REQUEST_CHANGED: [
            _service_request(status).params()
            for status in (ServiceRequestStatus.TAKEN, ServiceRequestStatus.DONE, ServiceRequestStatus.DECLINED)
        ],
    }
    for event in GroupEventKind:
        kind = f"group.{event.value}"
        if kind in NoticeKind._value2member_map_:
            notice = _group(event)
            found[notice.kind] = [dict(notice.params)]
    found.update(_projects())
    found.update(_tender_sources())
    found.update(_tenders())
    found.update(_questions())
    return found


def _questions() -> dict[NoticeKind, list[dict[str, Any]]]:
    """Question threads' parameters as bot.services.questions records them: text, and a photo whose caption is
    as long as Telegram lets a person write one (the card must still fit a caption)."""
    from bot.services.questions import Content, MessageKind, ThreadView
    from storage.models import QuestionStatus

    def thread(status: QuestionStatus, organisation: str | None = ODD) -> dict[str, Any]:
        view = ThreadView(3, 7, ODD, 1007, organisation, status, ODD if status is not QuestionStatus.OPEN else None,
                          ODD if status is QuestionStatus.RESOLVED else None, datetime.now(UTC))  # fmt: skip
        return view.params()

    text = Content(MessageKind.TEXT, "Cum pot plăti <cotizația> & când?").params()
    photo = Content(MessageKind.PHOTO, "x" * 1024, "AgACphoto").params()
    document = Content(MessageKind.DOCUMENT, None, "BQACdoc").params()
    return {
        NoticeKind.QUESTION_ASKED: [
            {**thread(QuestionStatus.OPEN), "message": text},
            {**thread(QuestionStatus.OPEN, None), "message": photo},
            {**thread(QuestionStatus.OPEN), "message": document},
        ],
        NoticeKind.QUESTION_ANSWERED: [
            {**thread(QuestionStatus.TAKEN), "message": text, "author": ODD},
            {**thread(QuestionStatus.OPEN), "message": photo, "author": ODD},
        ],
        NoticeKind.QUESTION_REPLIED: [
            {**thread(QuestionStatus.TAKEN), "message": text, "author": ODD},
            {**thread(QuestionStatus.TAKEN), "message": document, "author": ODD},
        ],
        NoticeKind.QUESTION_RESOLVED: [thread(QuestionStatus.RESOLVED)],
    }


def _tender_sources() -> dict[NoticeKind, list[dict[str, Any]]]:
    from bot.services.tenders.fetch import SourceFailure

    base = {"source": "ted", "kind": "ted", "at": datetime.now(UTC).isoformat()}
    return {
        NoticeKind.TENDER_SOURCE_FAILED: [
            {**base, "reason": reason.value, "detail": f"HTTP 400: {ODD}"} for reason in SourceFailure
        ],
        NoticeKind.TENDER_SOURCE_RECOVERED: [base],
    }


def _tenders() -> dict[NoticeKind, list[dict[str, Any]]]:
    """Tender alerts' parameters as bot.services.tenders.alerts records them, from a stored tender's row."""
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    tz = ZoneInfo("Europe/Bucharest")
    row: dict[str, Any] = {
        "id": 4,
        "title": {"ro": f"Panouri fotovoltaice {ODD}", "en": f"Photovoltaic panels {ODD}"},
        "buyer": ODD,
        "country": "RO",
        "cpv": ["09331200", "45261215", "09332000", "71314300", "90000000"],
        "value_hundredths": 49885788,
        "currency": "RON",
        "deadline": datetime(2026, 12, 20, 15, 0, tzinfo=UTC),
        "links": {"en": "https://ted.europa.eu/en/notice/-/detail/626569-2026?a=1&b=2"},
        "kind": "competition",
    }
    bare = {**row, "title": {"de": f"Solaranlagen {ODD}"}, "buyer": None, "country": None, "cpv": [],
            "value_hundredths": None, "currency": None, "deadline": None, "links": {}}  # fmt: skip
    tender, plain = tender_params(row, now=now, tz=tz), tender_params(bare, now=now, tz=tz)
    items = [{"alert_id": 10 + n, "tender": tender if n % 2 else plain} for n in range(4)]
    return {
        NoticeKind.TENDER_ALERT: [{"alert_id": 10, "tender": tender}, {"alert_id": 11, "tender": plain}],
        NoticeKind.TENDER_CHANGED: [{"alert_id": 10, "followed": True, "not_relevant": False, "tender": tender}],
        NoticeKind.TENDER_DIGEST: [
            {"items": items, "part": 1, "parts": 1, "total": 4, "first": 1},
            {"items": items[:1], "part": 2, "parts": 3, "total": 21, "first": 9},
        ],
        NoticeKind.TENDER_REMINDER: [
            {"alert_id": 10, "days": days, "tender": {**tender, "days_left": days}} for days in (7, 2, 1)
        ],
    }


def _projects() -> dict[NoticeKind, list[dict[str, Any]]]:
    title = Texts(ro=f"Compost {ODD}", en=None)
    group = Texts(ro=None, en=f"Sludge {ODD}")

    def one(kind: NoticeKind, **fields: Any) -> dict[str, Any]:
        return dict(ProjectNotice(kind, 9, title, **fields).notice().params)

    proposer = f"Ana Pop ({ODD})"
    return {
        NoticeKind.PROJECT_PROPOSED: [
            one(NoticeKind.PROJECT_PROPOSED, to=to, proposer=proposer, group=with_group)
            for to in ProposedTo
            for with_group in (group, None)
        ],
        NoticeKind.PROJECT_STATE: [
            one(NoticeKind.PROJECT_STATE, state=state, reason="Plan <gata> & buget")
            for state in ("preparation", "running", "closed", "cancelled")
        ],
        NoticeKind.PROJECT_RANK: [
            one(NoticeKind.PROJECT_RANK, rank=2, count=5),
            one(NoticeKind.PROJECT_RANK, rank=None, count=4, places=3),
        ],
        NoticeKind.PROJECT_OUTCOME: [
            one(NoticeKind.PROJECT_OUTCOME, rank=rank, count=5, places=places, outcome=outcome)
            for outcome, rank, places in (
                (OutcomeNews.PARTICIPANT, 1, 3),
                (OutcomeNews.WAITING, 4, 3),
                (OutcomeNews.WAITING, 2, 1),
                (OutcomeNews.MOVED_UP, 3, 3),
            )
        ],
    }


def test_every_kind_has_its_wording_and_a_sample_here() -> None:
    assert set(NOTICES) | {NoticeKind.MESSAGE} == set(NoticeKind)
    assert set(samples()) == set(NoticeKind)


def test_every_kind_is_worded_in_both_languages_as_telegram_accepts_it() -> None:
    render = renderer(build_i18n("ro"))
    for kind, cases in samples().items():
        for params in cases:
            worded = {locale: render(kind.value, params, locale) for locale in ("ro", "en")}
            validate_content(worded)  # HTML that parses, within the limits, buttons with one action each
            # A photo or a document goes out with the wording as its caption.
            ro, en = (worded[locale].get("text") or worded[locale]["caption"] for locale in ("ro", "en"))
            assert ro != en, kind
            for text in (ro, en):
                assert "<Verde>" not in text, (kind, text)
            # A source's name is plain ("ted"): a recovery says nothing else.
            if kind not in (NoticeKind.MESSAGE, NoticeKind.TENDER_SOURCE_RECOVERED):
                assert "&lt;Verde&gt; &amp; Fiii" in ro + en or "Grupul" in ro, (kind, ro)


def test_the_buttons_of_a_notice_are_in_its_readers_language() -> None:
    render = renderer(build_i18n("ro"))
    params = samples()[NoticeKind.JOIN_REQUESTED][0]
    keyboards = {locale: render("join.requested", params, locale)["reply_markup"] for locale in ("ro", "en")}
    labels = {
        locale: [b["text"] for row in markup["inline_keyboard"] for b in row] for locale, markup in keyboards.items()
    }
    assert labels == {"ro": ["✅ Aprob", "❌ Refuz"], "en": ["✅ Approve", "❌ Reject"]}


async def test_a_notice_with_parameters_that_are_not_plain_data_is_refused_when_recorded(engine: Any) -> None:
    from bot.outbox import InvalidContent
    from storage.db import create_session_factory

    async with unit_of_work(create_session_factory(engine)) as session:
        with pytest.raises(InvalidContent, match="not plain data"):
            await tell(Repositories(session), "x:1", [], Notice(NoticeKind.JOIN_DECIDED, {"at": datetime.now(UTC)}))


async def test_a_notice_is_read_in_the_language_its_reader_has_when_it_goes_out(sandbox: SandboxBot) -> None:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="ro", role="manager")
    await maria.send("/start")
    dan = await sandbox.person("dan", 1002, ODD, language_code="en")
    await dan.send("/join")
    await dan.send("Green Biomass SRL")
    await dan.send("RO 14399840")
    await dan.send("engineer")
    await dan.tap("Send request")
    # Queued while she read Romanian; she switches to English before the sender gets to it.
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await session.execute(update(Person).where(Person.telegram_id == 3001).values(language="en"))
    await sandbox.deliver()
    card = maria.last_message
    assert card is not None and "Request to join the cluster" in card.content
    assert ODD in card.content  # shown as text, not taken for markup
    assert card.labels == ["✅ Approve", "❌ Reject"]
    await maria.tap("Approve")
    await sandbox.deliver()
    assert "your request was approved" in (dan.last_text or "")


async def test_a_row_nobody_can_word_is_set_aside_and_the_others_go_out(sandbox: SandboxBot) -> None:
    radu = await sandbox.person("radu", 2001, "Radu", language_code="ro", role="member", organisation="Eco SRL")
    await radu.send("/start")
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        repos = Repositories(session)
        person = await repos.people.by_telegram_id(2001)
        assert person is not None
        to = [recipient(person, "ro")]
        # Queued by a newer release than this one, or by a wording with a bug: neither may stop the sender.
        future = [(2001, person.id, "ro")]
        await repos.outbox.add_many("future:1", future, {"x": 1}, kind="tender.from_the_future", now=datetime.now(UTC))
        await tell(repos, "group:5:dissolved", to, Notice(NoticeKind.GROUP_DISSOLVED, {"group_id": "five"}))
        await tell(repos, "join:9:decided", to, _decided())
    await sandbox.deliver()
    async with unit_of_work(sandbox.rt.session_factory) as session:
        rows = {row.batch: row for row in (await session.scalars(select(OutboxMessage))).all()}
    assert rows["future:1"].status == OutboxStatus.INVALID.value
    assert "no wording for notice kind 'tender.from_the_future'" in (rows["future:1"].error or "")
    assert rows["group:5:dissolved"].status == OutboxStatus.INVALID.value
    assert "could not be worded" in (rows["group:5:dissolved"].error or "")
    assert rows["join:9:decided"].status == OutboxStatus.SENT.value
    assert "a fost aprobată" in (radu.last_text or "")


def _decided() -> Notice:
    params = {"approved": True, "organisation_name": "Eco SRL", "member": True, "manager": False}
    return Notice(NoticeKind.JOIN_DECIDED, params)
