"""A time zone named in the reader's language: "ora României" / "Romanian time" for the cluster's own zone,
Babel's name of the zone's country (or city) for any other (``TIMEZONE`` may be set to one)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from babel.dates import get_timezone_location

ROMANIA = "Europe/Bucharest"


def zone_name(tz: ZoneInfo) -> str:
    """The zone as a reader of the current language calls it, to stand in a sentence: "ora României"."""
    if tz.key == ROMANIA:
        return _("Romanian time")
    locale = get_i18n().current_locale
    name = get_timezone_location(tz, locale=locale)
    # Babel writes it as a title ("Ora din Regatul Unit"); in a Romanian sentence it starts in lower case.
    return name[:1].lower() + name[1:] if locale == "ro" else name
