"""The services catalogue, one module per sub-feature:

- `browse`: `/services`, categories, a category's services, a service's card, pages, Back;
- `search`: `/services WORDS`, 🔎 Search and the results' pages;
- `requests`: a member's request for a service; the managers' Take it / Done / Decline and `/service_requests`;
  the notices' wordings (`handlers.notices`) and /profile's lines (`handlers.common`);
- `editing`: managers add, rename, edit, hide, show and move categories and services;
- `files`: managers export and import the catalogue as a YAML file;
- `keyboards` (callback data, button layout), `screens` (the screens and showing them), `forms` (the
  conversations' states, Cancel, and the managers' routers).

Managers' routes sit on routers made by `handlers.guards.managers_router` (through `forms.managers_routes`):
their handlers check no role themselves, and services check it again before any change. Refusals a handler
has nothing to add to go to `handlers.refusals.on_refusal`.
"""

from __future__ import annotations

from aiogram import Router

from handlers.catalogue import browse, editing, files, forms, requests, search
from handlers.catalogue.requests import requests_section, service_request_changed_notice, service_requested_notice

__all__ = ["build_router", "requests_section", "service_request_changed_notice", "service_requested_notice"]


def build_router() -> Router:
    """The catalogue's routes for one Dispatcher: everyone's first, then the managers' (guarded) ones."""
    router = Router(name=__name__)
    members_requests, managers_requests = requests.build_routers()
    router.include_routers(
        browse.build_router(),
        search.build_router(),
        members_requests,
        forms.build_router(),
        managers_requests,
        editing.build_router(),
        files.build_router(),
    )
    return router
