"""Tender alerts, one module per sub-feature:

- profiles: /tenders, a member's alert profiles (list, create, edit, pause, resume, delete, copy an
  organisation colleague's), the preview count and the current open matches;
- alerts: the buttons on an alert (Follow, Not relevant);
- admin [managers]: /tenders_admin, each source's health, fetch now, the week's figures (also as CSV).
"""

from __future__ import annotations

from aiogram import Router

from handlers.tenders import admin, alerts, profiles


def build_router() -> Router:
    """The tender alerts' routers for one Dispatcher."""
    router = Router(name=__name__)
    router.include_routers(profiles.build_router(), alerts.build_router(), admin.build_router())
    return router
