"""Membership rules: who a person is, joining for an organisation, approvals, invite codes, provisioning."""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from bot.notices import Notice, NoticeKind, recipient, recipients, tell, tell_copies
from bot.services.refusals import Refused
from bot.text import fold
from storage.models import (
    InviteCode,
    JoinRequest,
    Organisation,
    Person,
    PersonStatus,
    RequestStatus,
    Role,
    utcnow,
)
from storage.repositories import Repositories

ORGANISATION_NAME_MAX = 200
POSITION_MAX = 120
# A manager's reason for rejecting a join request, which the applicant reads.
REASON_MAX = 500
NAME_MAX = 128
_CUI_KEY = (7, 5, 3, 2, 1, 7, 5, 3, 2)


class MembershipError(Refused):
    """A membership rule refused the action (`Refusal`)."""

    reason: Refusal


class Refusal(enum.StrEnum):
    NOT_ALLOWED = "not_allowed"
    ALREADY_MEMBER = "already_member"
    REQUEST_PENDING = "request_pending"
    INVALID_CUI = "invalid_cui"
    TEXT_TOO_LONG = "text_too_long"
    TEXT_EMPTY = "text_empty"
    REQUEST_NOT_FOUND = "request_not_found"
    REQUEST_DECIDED = "request_decided"
    INVITE_INVALID = "invite_invalid"
    INVITE_OTHER_ORGANISATION = "invite_other_organisation"
    ORGANISATION_NOT_FOUND = "organisation_not_found"
    PERSON_NOT_FOUND = "person_not_found"


@dataclass(frozen=True)
class PersonView:
    id: int
    telegram_id: int
    first_name: str
    last_name: str | None
    username: str | None
    language: str | None
    telegram_language: str | None
    role: Role
    status: str
    organisation_id: int | None
    organisation_name: str | None
    position: str | None
    # Whether they ever asked for a service: None when not read (then /profile looks), so that a profile of
    # someone who never did needs no query.
    has_service_requests: bool | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name

    @property
    def is_member(self) -> bool:
        return self.role.at_least(Role.MEMBER)

    @property
    def is_manager(self) -> bool:
        return self.role.at_least(Role.MANAGER)


@dataclass(frozen=True)
class JoinRequestView:
    id: int
    person_id: int
    organisation_name: str
    cui: str
    position: str
    status: RequestStatus
    created_at: datetime
    # The organisation already known under this CUI or name, if any: managers see whether it is new.
    existing_organisation: str | None = None
    existing_representatives: int = 0


@dataclass(frozen=True)
class Decision:
    request: JoinRequestView
    applicant: PersonView
    manager: PersonView | None
    approved: bool
    organisation_name: str | None


@dataclass(frozen=True)
class OrganisationView:
    id: int
    name: str
    cui: str | None


@dataclass(frozen=True)
class InviteView:
    code: str
    organisation_name: str
    label: str | None
    uses: int
    max_uses: int | None
    revoked: bool


# --- pure helpers --------------------------------------------------------------------------------------------


def organisation_key(name: str) -> str:
    words = re.sub(r"[^\w]+", " ", fold(name).replace(".", "")).split()
    return " ".join(words)


def normalise_cui(raw: str) -> str | None:
    """The CUI's digits when its check digit is right (an optional RO prefix and spaces are fine), else None."""
    cleaned = re.sub(r"[\s.\-]", "", raw).upper()
    cleaned = cleaned.removeprefix("RO")
    if not cleaned.isdigit() or not 2 <= len(cleaned) <= 10:
        return None
    return cleaned.lstrip("0") or None if check_digit(cleaned[:-1]) == int(cleaned[-1]) else None


def check_digit(body: str | int) -> int:
    """The check digit of a CUI's body (its digits but the last, at most 9)."""
    digits = str(body).rjust(9, "0")
    return sum(int(digit) * weight for digit, weight in zip(digits, _CUI_KEY, strict=True)) * 10 % 11 % 10


def with_check_digit(body: str | int) -> str:
    """A valid CUI made of `body` and its check digit."""
    return f"{body}{check_digit(body)}"


def clean_text(raw: str | None, limit: int) -> str:
    text = " ".join((raw or "").split())
    if not text:
        raise MembershipError(Refusal.TEXT_EMPTY)
    if len(text) > limit:
        raise MembershipError(Refusal.TEXT_TOO_LONG, limit=limit)
    return text


def new_invite_code() -> str:
    # Deep-link payloads allow [A-Za-z0-9_-] up to 64 characters; 12 url-safe characters are 72 bits.
    return secrets.token_urlsafe(9)


# --- views -----------------------------------------------------------------------------------------------------


async def _view(repos: Repositories, person: Person) -> PersonView:
    organisation = await repos.organisations.get(person.organisation_id) if person.organisation_id else None
    return person_view(person, organisation)


def person_view(person: Person, organisation: Organisation | None, has_requests: bool | None = None) -> PersonView:
    """What the handlers and the other services see of a stored person (and of their organisation)."""
    return PersonView(
        id=person.id,
        telegram_id=person.telegram_id,
        first_name=person.first_name,
        last_name=person.last_name,
        username=person.username,
        language=person.language,
        telegram_language=person.telegram_language,
        role=Role(person.role),
        status=person.status,
        organisation_id=person.organisation_id,
        organisation_name=organisation.name if organisation else None,
        position=person.position,
        has_service_requests=has_requests,
    )


def _request_view(
    request: JoinRequest, existing: Organisation | None = None, representatives: int = 0
) -> JoinRequestView:
    return JoinRequestView(
        id=request.id,
        person_id=request.person_id,
        organisation_name=request.organisation_name,
        cui=request.cui,
        position=request.position,
        status=RequestStatus(request.status),
        created_at=request.created_at,
        existing_organisation=existing.name if existing else None,
        existing_representatives=representatives,
    )


async def _matching_organisation(repos: Repositories, cui: str, name: str) -> Organisation | None:
    return await repos.organisations.by_cui(cui) or await repos.organisations.by_name_key(organisation_key(name))


async def _organisation_for(repos: Repositories, name: str, cui: str | None) -> Organisation:
    """The organisation with this CUI or name, created when the cluster does not know it yet."""
    existing = await repos.organisations.by_cui(cui) if cui else None
    existing = existing or await repos.organisations.by_name_key(organisation_key(name))
    if existing is not None:
        if cui and existing.cui is None:
            existing.cui = cui
        return existing
    return await repos.organisations.add_or_get(name=name, name_key=organisation_key(name), cui=cui)


# --- people ----------------------------------------------------------------------------------------------------


def _role_from_config(current: Role, telegram_id: int, admin_ids: Collection[int], has_organisation: bool) -> Role:
    if telegram_id in admin_ids:
        return Role.ADMIN
    if current is Role.ADMIN:
        # Removed from ADMIN_IDS: the configuration is the only source of the admin role.
        return Role.MEMBER if has_organisation else Role.GUEST
    return current


def still_matches(person: PersonView, user: object, admin_ids: Collection[int]) -> bool:
    """Whether a remembered person still fits what Telegram says of them now (else read and update them)."""
    first_name = (getattr(user, "first_name", "") or "").strip()[:NAME_MAX] or str(person.telegram_id)
    last_name = getattr(user, "last_name", None)
    return (
        person.first_name == first_name
        and person.last_name == (last_name[:NAME_MAX] if last_name else None)
        and person.username == getattr(user, "username", None)
        and person.telegram_language == getattr(user, "language_code", None)
        and person.status == PersonStatus.ACTIVE.value
        and (person.role is Role.ADMIN) == (person.telegram_id in admin_ids)
    )


async def require_manager(repos: Repositories, actor: PersonView) -> None:
    """The actor's role as the database has it now: a remembered view may be seconds old."""
    row = await repos.people.get(actor.id)
    if row is None or not Role(row.role).at_least(Role.MANAGER):
        raise MembershipError(Refusal.NOT_ALLOWED)


async def touch_person(
    repos: Repositories,
    *,
    telegram_id: int,
    first_name: str,
    last_name: str | None,
    username: str | None,
    language_code: str | None,
    admin_ids: Collection[int],
) -> PersonView:
    """The person behind an update, created as a guest on first contact and kept up to date."""
    found = await repos.people.with_organisation(telegram_id)
    first_name = (first_name or "").strip()[:NAME_MAX] or str(telegram_id)
    last_name = last_name[:NAME_MAX] if last_name else None
    if found is None:
        person = await repos.people.add(
            telegram_id=telegram_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            telegram_language=language_code,
            role=(Role.ADMIN if telegram_id in admin_ids else Role.GUEST).value,
        )
        return person_view(person, None, has_requests=False)
    person, organisation, has_requests = found
    role = _role_from_config(Role(person.role), telegram_id, admin_ids, person.organisation_id is not None)
    changes = {
        "first_name": first_name,
        "last_name": last_name,
        "username": username,
        "telegram_language": language_code,
        "role": role.value,
        # Writing to the bot again means they can be reached again.
        "status": PersonStatus.ACTIVE.value,
    }
    for field, value in changes.items():
        if getattr(person, field) != value:
            setattr(person, field, value)
    return person_view(person, organisation, has_requests)


async def first_welcome(repos: Repositories, person: PersonView) -> bool:
    """True the first time a person is welcomed (/start), recorded then: later, /start is short (no privacy
    notice again, no language buttons). Two /start at once may both be first; both are then welcomed in full."""
    if await repos.audit.acted(person.id, "person.welcomed"):
        return False
    await repos.audit.record("person.welcomed", actor_id=person.id, subject=f"person:{person.id}")
    return True


async def set_language(repos: Repositories, person_id: int, language: str) -> PersonView:
    person = await repos.people.get(person_id)
    if person is None:
        raise MembershipError(Refusal.PERSON_NOT_FOUND)
    person.language = language
    return await _view(repos, person)


async def get_person(repos: Repositories, person_id: int) -> PersonView:
    person = await repos.people.get(person_id)
    if person is None:
        raise MembershipError(Refusal.PERSON_NOT_FOUND)
    return await _view(repos, person)


async def managers(repos: Repositories) -> list[PersonView]:
    return [await _view(repos, person) for person in await repos.people.managers()]


# --- joining -----------------------------------------------------------------------------------------------------


async def pending_request_of(repos: Repositories, person_id: int) -> JoinRequestView | None:
    request = await repos.join_requests.pending_for(person_id)
    return _request_view(request) if request else None


def ensure_can_apply(person: PersonView) -> None:
    if person.organisation_id is not None or person.is_member:
        raise MembershipError(Refusal.ALREADY_MEMBER, organisation=person.organisation_name or "")


async def submit_join_request(
    repos: Repositories, person: PersonView, *, organisation_name: str, cui: str, position: str, default_locale: str
) -> JoinRequestView:
    """Ask to join for an organisation; every manager is told (a `JOIN_REQUESTED` notice with the buttons)."""
    ensure_can_apply(person)
    if await repos.join_requests.pending_for(person.id):
        raise MembershipError(Refusal.REQUEST_PENDING)
    name = clean_text(organisation_name, ORGANISATION_NAME_MAX)
    role_in_organisation = clean_text(position, POSITION_MAX)
    valid_cui = normalise_cui(cui)
    if valid_cui is None:
        raise MembershipError(Refusal.INVALID_CUI)
    request = await repos.join_requests.add(
        person_id=person.id, organisation_name=name, cui=valid_cui, position=role_in_organisation
    )
    existing = await _matching_organisation(repos, valid_cui, name)
    representatives = await repos.people.count_of_organisation(existing.id) if existing else 0
    await repos.audit.record(
        "join.requested", actor_id=person.id, subject=f"join_request:{request.id}", details={"cui": valid_cui}
    )
    view = _request_view(request, existing, representatives)
    notice = Notice(NoticeKind.JOIN_REQUESTED, join_request_params(view, person))
    managers_now = recipients(await repos.people.managers(), default_locale)
    await tell(repos, f"join-request:{request.id}:new", managers_now, notice)
    return view


def join_request_params(request: JoinRequestView, applicant: PersonView) -> dict[str, Any]:
    """A join request as managers read it, in plain data: the `JOIN_REQUESTED` notice and the /requests list."""
    return {
        "request_id": request.id,
        "organisation_name": request.organisation_name,
        "cui": request.cui,
        "position": request.position,
        "existing_organisation": request.existing_organisation,
        "existing_representatives": request.existing_representatives,
        "applicant_name": applicant.full_name,
        "applicant_username": applicant.username,
        "applicant_telegram_id": applicant.telegram_id,
    }


async def check_can_decide(repos: Repositories, request_id: int, manager: PersonView) -> JoinRequestView:
    """The request, while this manager may still decide it (the role and the request are read afresh): what the
    reject conversation checks at each step before the decision itself."""
    await require_manager(repos, manager)
    request = await repos.join_requests.get(request_id)
    if request is None:
        raise MembershipError(Refusal.REQUEST_NOT_FOUND)
    if request.status != RequestStatus.PENDING.value:
        raise await _already_decided(repos, request)
    return _request_view(request)


async def decide_join_request(
    repos: Repositories,
    request_id: int,
    manager: PersonView | None,
    *,
    approve: bool,
    default_locale: str,
    now: datetime | None = None,
    actor_label: str | None = None,
    reason: str | None = None,
    tz: tzinfo = UTC,
) -> Decision:
    """Approve or reject (with the manager's `reason`, if any, which the applicant reads); the person is checked
    here, on the server, for every button press. The applicant is told (a `JOIN_DECIDED` notice), and every
    manager's copy of the request's card is edited to say who decided and when (`tell_copies`).

    `manager` is None when an operator decides from the command line (`actor_label` says so).
    """
    if manager is not None:
        await require_manager(repos, manager)
    request = await repos.join_requests.get(request_id)
    if request is None:
        raise MembershipError(Refusal.REQUEST_NOT_FOUND)
    if request.status != RequestStatus.PENDING.value:
        raise await _already_decided(repos, request)
    applicant = await repos.people.get(request.person_id)
    if applicant is None:
        raise MembershipError(Refusal.REQUEST_NOT_FOUND)
    status = RequestStatus.APPROVED if approve else RequestStatus.REJECTED
    reason = clean_text(reason, REASON_MAX) if reason is not None and not approve else None
    decided_at = now or utcnow()
    # The decision is this one conditional update, before anything else is written: a manager who pressed at
    # the same instant as another finds it decided here, with nothing of theirs to undo.
    decided = await repos.join_requests.decide(
        request.id, status=status, by_id=manager.id if manager else None, at=decided_at, organisation_id=None
    )
    if not decided:
        fresh = await repos.join_requests.get(request.id, fresh=True)
        raise await _already_decided(repos, fresh or request)
    # The card as managers were sent it, before an approval creates the organisation.
    existing = await _matching_organisation(repos, request.cui, request.organisation_name)
    representatives = await repos.people.count_of_organisation(existing.id) if existing else 0
    organisation = None
    if approve:
        organisation = await _organisation_for(repos, request.organisation_name, request.cui)
        request.organisation_id = organisation.id
        applicant.organisation_id = organisation.id
        applicant.position = request.position
        if not Role(applicant.role).at_least(Role.MEMBER):
            applicant.role = Role.MEMBER.value
    await repos.audit.record(
        "join.approved" if approve else "join.rejected",
        actor_id=manager.id if manager else None,
        actor_label=actor_label,
        subject=f"join_request:{request.id}",
        details={"person_id": applicant.id, "organisation_id": organisation.id if organisation else None}
        | ({"reason": reason} if reason else {}),
    )
    decision = Decision(
        request=_request_view(request),
        applicant=await _view(repos, applicant),
        manager=manager,
        approved=approve,
        organisation_name=organisation.name if organisation else None,
    )
    told = decision.applicant
    notice = Notice(
        NoticeKind.JOIN_DECIDED,
        {
            "approved": approve,
            "organisation_name": decision.organisation_name if approve else request.organisation_name,
            "member": told.is_member,
            "manager": told.is_manager,
            "reason": reason,
        },
    )
    await tell(repos, f"join-request:{request.id}:decided", [recipient(told, default_locale)], notice)
    card = join_request_params(_request_view(request, existing, representatives), decision.applicant) | {
        "decided": status.value,
        "decided_by": manager.full_name if manager else (actor_label or ""),
        # In the cluster's time zone: the card says the hour as people there read it.
        "decided_at": decided_at.astimezone(tz).isoformat(),
    }
    await tell_copies(
        repos,
        f"join-request:{request.id}:copies",
        f"join-request:{request.id}:new",
        Notice(NoticeKind.JOIN_REQUESTED, card),
    )
    return decision


async def _already_decided(repos: Repositories, request: JoinRequest) -> MembershipError:
    decided_by = await repos.people.get(request.decided_by_id) if request.decided_by_id else None
    return MembershipError(
        Refusal.REQUEST_DECIDED, status=request.status, by=(decided_by.first_name if decided_by else "")
    )


async def pending_requests(repos: Repositories, viewer: PersonView) -> list[tuple[JoinRequestView, PersonView]]:
    await require_manager(repos, viewer)
    result = []
    for request, person in await repos.join_requests.pending():
        existing = await _matching_organisation(repos, request.cui, request.organisation_name)
        count = await repos.people.count_of_organisation(existing.id) if existing else 0
        result.append((_request_view(request, existing, count), await _view(repos, person)))
    return result


# --- invite codes ------------------------------------------------------------------------------------------------


def _invite_view(invite: InviteCode, organisation: Organisation) -> InviteView:
    return InviteView(
        code=invite.code,
        organisation_name=organisation.name,
        label=invite.label,
        uses=invite.uses,
        max_uses=invite.max_uses,
        revoked=invite.revoked,
    )


async def create_invite(
    repos: Repositories,
    organisation_id: int,
    *,
    label: str | None = None,
    max_uses: int | None = None,
    expires_at: datetime | None = None,
    actor: PersonView | None = None,
    actor_label: str | None = None,
) -> InviteView:
    if actor is not None:
        await require_manager(repos, actor)
    organisation = await repos.organisations.get(organisation_id)
    if organisation is None:
        raise MembershipError(Refusal.ORGANISATION_NOT_FOUND)
    invite = await repos.invites.add(
        code=new_invite_code(), organisation_id=organisation.id, label=label, max_uses=max_uses, expires_at=expires_at
    )
    await repos.audit.record(
        "invite.created",
        actor_id=actor.id if actor else None,
        actor_label=actor_label,
        subject=f"organisation:{organisation.id}",
        details={"invite_id": invite.id, "max_uses": max_uses},
    )
    return _invite_view(invite, organisation)


async def find_organisation(repos: Repositories, query: str) -> OrganisationView | None:
    """By CUI when the text is one, else by name (any spelling of diacritics and case)."""
    cui = normalise_cui(query)
    found = await repos.organisations.by_cui(cui) if cui else None
    found = found or await repos.organisations.by_name_key(organisation_key(query))
    return OrganisationView(found.id, found.name, found.cui) if found else None


async def redeem_invite(
    repos: Repositories, person: PersonView, code: str, *, now: datetime | None = None
) -> PersonView:
    """Attach the person to the invite's organisation at once, as a member."""
    invite = await repos.invites.by_code(code)
    now = now or utcnow()
    if invite is None or invite.revoked or (invite.expires_at is not None and invite.expires_at <= now):
        raise MembershipError(Refusal.INVITE_INVALID)
    organisation = await repos.organisations.get(invite.organisation_id)
    if organisation is None:
        raise MembershipError(Refusal.INVITE_INVALID)
    if person.organisation_id == organisation.id:
        return person
    if person.organisation_id is not None:
        raise MembershipError(Refusal.INVITE_OTHER_ORGANISATION, organisation=person.organisation_name or "")
    # The use is counted first, by a conditional update: of people pressing at once, only as many as the code
    # has uses get past it, and one refused here has written nothing.
    if not await repos.invites.consume(invite.id):
        raise MembershipError(Refusal.INVITE_INVALID)
    # Then their pending request (before the person row: a manager's decision takes the two in that order too,
    # so neither waits for the other in a circle on PostgreSQL), and then the person, unless an approval or
    # their other press gave them an organisation meanwhile. A pending request is moot either way.
    await repos.join_requests.withdraw_pending(person.id)
    attached = await repos.people.attach(person.id, organisation.id)
    if not attached:
        # Refused or not, this press used nothing: give the use back before anything else.
        await repos.invites.release(invite.id)
    row = await repos.people.fresh(person.id)
    if row is None:
        raise MembershipError(Refusal.PERSON_NOT_FOUND)
    if not attached:
        if row.organisation_id == organisation.id:
            return await _view(repos, row)
        current = await repos.organisations.get(row.organisation_id) if row.organisation_id else None
        raise MembershipError(Refusal.INVITE_OTHER_ORGANISATION, organisation=current.name if current else "")
    if not Role(row.role).at_least(Role.MEMBER):
        row.role = Role.MEMBER.value
    await repos.audit.record(
        "invite.redeemed", actor_id=person.id, subject=f"organisation:{organisation.id}", details={"code": invite.id}
    )
    return await _view(repos, row)


# --- operators (CLI, scenarios) -----------------------------------------------------------------------------------


async def provision(
    repos: Repositories,
    *,
    telegram_id: int,
    first_name: str,
    last_name: str | None = None,
    username: str | None = None,
    language_code: str | None = None,
    role: Role = Role.GUEST,
    organisation: str | None = None,
    cui: str | None = None,
    position: str | None = None,
    actor_label: str = "cli",
) -> PersonView:
    """Create or update a person as an operator would, with their organisation created when missing."""
    person = await repos.people.by_telegram_id(telegram_id)
    if person is None:
        person = await repos.people.add(
            telegram_id=telegram_id,
            first_name=first_name[:NAME_MAX],
            last_name=last_name,
            username=username,
            telegram_language=language_code,
        )
    else:
        person.first_name = first_name[:NAME_MAX]
        if language_code:
            person.telegram_language = language_code
    if organisation:
        valid_cui = normalise_cui(cui) if cui else None
        if cui and valid_cui is None:
            raise MembershipError(Refusal.INVALID_CUI)
        org = await _organisation_for(repos, clean_text(organisation, ORGANISATION_NAME_MAX), valid_cui)
        person.organisation_id = org.id
    if position:
        person.position = clean_text(position, POSITION_MAX)
    if role is Role.MEMBER and person.organisation_id is None:
        raise MembershipError(Refusal.ORGANISATION_NOT_FOUND)
    person.role = role.value
    await repos.audit.record(
        "person.provisioned",
        actor_label=actor_label,
        subject=f"person:{person.id}",
        details={"role": role.value, "organisation_id": person.organisation_id},
    )
    return await _view(repos, person)


async def set_role(repos: Repositories, telegram_id: int, role: Role, *, actor_label: str = "cli") -> PersonView:
    person = await repos.people.by_telegram_id(telegram_id)
    if person is None:
        raise MembershipError(Refusal.PERSON_NOT_FOUND)
    previous = person.role
    person.role = role.value
    await repos.audit.record(
        "person.role_changed",
        actor_label=actor_label,
        subject=f"person:{person.id}",
        details={"from": previous, "to": role.value},
    )
    return await _view(repos, person)


async def list_people(repos: Repositories, role: Role | None = None) -> list[PersonView]:
    return [await _view(repos, person) for person, _org in await repos.people.list_all(role)]


async def list_invites(repos: Repositories) -> list[InviteView]:
    return [_invite_view(invite, org) for invite, org in await repos.invites.list_all()]


# --- member list import ---------------------------------------------------------------------------------------

IMPORT_COLUMNS = ("organisation", "cui", "sector", "first_name", "last_name", "telegram_id", "position", "role")


@dataclass(frozen=True)
class ImportedInvite:
    organisation: str
    name: str
    position: str | None
    code: str


@dataclass
class ImportReport:
    organisations: int = 0
    people: int = 0
    invites: list[ImportedInvite] | None = None
    errors: list[str] | None = None


def parse_member_csv(text: str) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    """Rows with their line numbers, and the errors that name the line; all-or-nothing is the caller's choice."""
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    if "organisation" not in header:
        return [], [
            f"line 1: the header must name the columns, at least 'organisation' (known: {', '.join(IMPORT_COLUMNS)})"
        ]
    unknown = [name for name in header if name not in IMPORT_COLUMNS]
    if unknown:
        return [], [f"line 1: unknown column(s) {', '.join(unknown)} (known: {', '.join(IMPORT_COLUMNS)})"]
    rows: list[tuple[int, dict[str, str]]] = []
    errors: list[str] = []
    for raw in reader:
        line = reader.line_num
        row = {key.strip().lower(): (value or "").strip() for key, value in raw.items() if key}
        if not any(row.values()):
            continue
        problems = []
        if not row.get("organisation"):
            problems.append("organisation is empty")
        elif len(row["organisation"]) > ORGANISATION_NAME_MAX:
            problems.append(f"organisation is longer than {ORGANISATION_NAME_MAX} characters")
        if row.get("cui") and normalise_cui(row["cui"]) is None:
            problems.append(f"CUI {row['cui']!r} has a wrong check digit")
        if row.get("telegram_id") and not row["telegram_id"].isdigit():
            problems.append(f"telegram_id {row['telegram_id']!r} is not a number")
        if row.get("role", "member") not in ("", "member", "manager"):
            problems.append(f"role {row['role']!r} must be member or manager")
        if (row.get("telegram_id") or row.get("position")) and not row.get("first_name"):
            problems.append("first_name is empty")
        if row.get("position") and len(row["position"]) > POSITION_MAX:
            problems.append(f"position is longer than {POSITION_MAX} characters")
        if problems:
            errors.append(f"line {line}: " + "; ".join(problems))
        else:
            rows.append((line, row))
    return rows, errors


async def import_members(repos: Repositories, rows: list[tuple[int, dict[str, str]]]) -> ImportReport:
    """Organisations and representatives from a member list; an invite per representative not yet on Telegram.

    Re-running it is safe: known organisations and people are updated, an unused invite is reused.
    The rows are applied in order to what one read found, then written in bulk statements in the caller's
    transaction: row by row, 3,000 rows took 8 s on SQLite and 16 s on PostgreSQL (benchmarks/members_import.py).
    """
    report = ImportReport(invites=[], errors=[])
    cuis = {normalise_cui(row["cui"]) or "" for _line, row in rows if row.get("cui")} - {""}
    keys = {organisation_key(row["organisation"]) for _line, row in rows}
    by_cui: dict[str, _ImportedOrganisation] = {}
    by_key: dict[str, _ImportedOrganisation] = {}
    for found in await repos.organisations.matching_many(cuis, keys):
        known = _ImportedOrganisation(
            found["id"],
            found["name"],
            found["name_key"],
            found["cui"],
            found["sector"],
            (found["cui"], found["sector"]),
        )
        by_key[known.name_key] = known
        if known.cui:
            by_cui[known.cui] = known

    # What each row makes of the organisations, in order, as `_organisation_for` did one row at a time.
    row_organisations: list[_ImportedOrganisation] = []
    created: list[_ImportedOrganisation] = []
    for _line, row in rows:
        cui = normalise_cui(row["cui"]) if row.get("cui") else None
        key = organisation_key(row["organisation"])
        organisation = (by_cui.get(cui) if cui else None) or by_key.get(key)
        if organisation is None:
            organisation = _ImportedOrganisation(None, row["organisation"], key, cui, None)
            created.append(organisation)
            by_key[key] = organisation
        elif cui and organisation.cui is None:
            organisation.cui = cui
        if organisation.cui:
            by_cui.setdefault(organisation.cui, organisation)
        if row.get("sector"):
            organisation.sector = row["sector"][:120]
        row_organisations.append(organisation)
    report.organisations = len(created)
    if created:
        ids = await repos.organisations.add_many(
            [{"name": o.name, "name_key": o.name_key, "cui": o.cui, "sector": o.sector} for o in created]
        )
        for organisation in created:
            organisation.id = ids[organisation.name_key]
    await repos.organisations.update_many(
        [
            {"id": o.id, "cui": o.cui, "sector": o.sector}
            for o in by_key.values()
            if o.original is not None and (o.cui, o.sector) != o.original
        ]
    )

    telegram_ids = {int(row["telegram_id"]) for _line, row in rows if row.get("telegram_id")}
    people: dict[int, dict[str, Any]] = {
        found["telegram_id"]: {**found, "original": dict(found)}
        for found in await repos.people.by_telegram_ids_many(telegram_ids)
    }
    invites: dict[int, list[dict[str, Any]]] = {}
    known_ids = [o.id for o in by_key.values() if o.original is not None and o.id is not None]
    for existing in await repos.invites.labelled_of_organisations(known_ids):
        invites.setdefault(existing["organisation_id"], []).append(dict(existing))
    new_invites: list[dict[str, Any]] = []
    provisioned: list[tuple[dict[str, Any], str, int | None]] = []
    for (_line, row), organisation in zip(rows, row_organisations, strict=True):
        name = " ".join(part for part in (row.get("first_name"), row.get("last_name")) if part)
        if not name:
            continue
        role = Role.MANAGER if row.get("role") == "manager" else Role.MEMBER
        if row.get("telegram_id"):
            # As `provision` does: a known person keeps their last name and, without one here, their position.
            telegram_id = int(row["telegram_id"])
            person = people.setdefault(
                telegram_id,
                {"id": None, "telegram_id": telegram_id, "last_name": row.get("last_name") or None, "position": None},
            )
            person["first_name"] = row["first_name"][:NAME_MAX]
            person["organisation_id"] = organisation.id
            if row.get("position"):
                person["position"] = clean_text(row["position"], POSITION_MAX)
            person["role"] = role.value
            provisioned.append((person, role.value, organisation.id))
            report.people += 1
            continue
        assert organisation.id is not None
        of_organisation = invites.setdefault(organisation.id, [])
        invite = next(
            (
                inv
                for inv in of_organisation
                if inv["label"] == name
                and not inv["revoked"]
                and (inv["max_uses"] is None or inv["uses"] < inv["max_uses"])
            ),
            None,
        )
        if invite is None:
            invite = {"code": new_invite_code(), "organisation_id": organisation.id, "label": name, "max_uses": 1}
            new_invites.append(invite)
            of_organisation.append({**invite, "uses": 0, "revoked": False})
        assert report.invites is not None
        report.invites.append(ImportedInvite(organisation.name, name, row.get("position") or None, invite["code"]))

    columns = ("first_name", "role", "organisation_id", "position")
    added = [person for person in people.values() if person["id"] is None]
    if added:
        person_ids = await repos.people.add_many(
            [
                {"telegram_id": p["telegram_id"], "last_name": p["last_name"], **{c: p[c] for c in columns}}
                for p in added
            ]
        )
        for person in added:
            person["id"] = person_ids[person["telegram_id"]]
    await repos.people.update_many(
        [
            person
            for person in people.values()
            if "original" in person and any(person[c] != person["original"][c] for c in columns)
        ]
    )
    if new_invites:
        await repos.invites.add_many(new_invites)
    await repos.audit.record_many(
        [
            {
                "action": "person.provisioned",
                "actor_label": "import",
                "subject": f"person:{person['id']}",
                "details": {"role": role_value, "organisation_id": organisation_id},
            }
            for person, role_value, organisation_id in provisioned
        ]
        + [
            {
                "action": "members.imported",
                "actor_label": "import",
                "details": {
                    "organisations": report.organisations,
                    "people": report.people,
                    "invites": len(report.invites or []),
                },
            }
        ]
    )
    return report


@dataclass(eq=False)
class _ImportedOrganisation:
    """An organisation as the member list import has made it so far."""

    id: int | None
    name: str
    name_key: str
    cui: str | None
    sector: str | None
    # (cui, sector) as read from the database; None for one the import creates.
    original: tuple[str | None, str | None] | None = None
