"""The catalogues keep the house style (docs STYLE.md, issue 12's reread), and a name ending with a period is
never followed by a second one.

Romanian: „…” quotes, never «…» or "…"; ș and ț with the comma below; the formal register (no second-person
singular imperatives such as "Trimite", "Alege"); "Vă rog", never "Vă rugăm"; no comma before "sau"; no
"pentru mine" / "la mine"; three plural forms. English: "…" quotes, never «…».
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.app import build_i18n
from bot.config import Settings
from bot.i18n import LOCALES_DIR, Translated, typeset
from bot.sandbox.scenario import run_scenario_file

SCENARIOS = Path(__file__).parent / "scenarios"
TAGS = re.compile(r"<[^>]*>")

# Informal (second-person singular) imperatives of the verbs a bot's texts use. Left out on purpose: those whose
# third-person indicative is spelled the same and begins sentences with an elided subject ("⏳ Așteaptă: urcă
# atunci când…", "Participă: …", "Intră în competiție…").
INFORMAL_IMPERATIVES = (
    "trimite adaugă alege scrie apasă deschide încearcă introdu folosește selectează șterge vezi fă dă caută "
    "spune răspunde atinge verifică continuă anulează salvează confirmă renunță ieși citește acceptă propune "
    "modifică schimbă completează descarcă mergi revino contactează vino alătură-te înscrie-te oprește "
    "păstrează retrage alătură aderă aprobă refuză preia marchează copiază exportă importă programează "
    "redenumește ascunde afișează mută suspendă reia elimină răsfoiește omite lasă numește angajează cere"
).split()
# Where a sentence starts: the text's start, a line's, after . ! ? : ; or after an emoji or other symbol.
_SENTENCE_START = r"(?:^|\n|[.!?:;]\s+|[^\w\s,.„”\"'()\-–—/{}%#+]\s*)"
INFORMAL = re.compile(_SENTENCE_START + r"(" + "|".join(INFORMAL_IMPERATIVES) + r")(?!\w)", re.IGNORECASE)


def translations(locale: str) -> list[tuple[str, str]]:
    """(msgid, each msgstr form) of a catalogue, HTML tags left out."""
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=locale)
    found = []
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id[0] if isinstance(message.id, tuple) else message.id
        forms = message.string if isinstance(message.string, tuple | list) else (message.string,)
        found.extend((msgid, TAGS.sub("", form)) for form in forms)
    return found


def offending(locale: str, pattern: re.Pattern[str]) -> list[str]:
    return [text for _msgid, text in translations(locale) if pattern.search(text)]


def test_romanian_quotes_are_low_high() -> None:
    assert offending("ro", re.compile(r"[«»“]")) == []
    # Straight quotes around words ("foo"), and an opening „ closed by anything but ”.
    assert offending("ro", re.compile(r"\"[^\"\s][^\"]*\"")) == []
    assert offending("ro", re.compile(r"„[^”]*(?:$|[„\"“])")) == []


def test_english_quotes_are_plain() -> None:
    assert offending("en", re.compile(r"[«»„]")) == []


@pytest.mark.parametrize("locale", ["ro", "en"])
def test_no_cedilla_letters(locale: str) -> None:
    assert offending(locale, re.compile(r"[şţŞŢ]")) == []


def test_romanian_is_formal() -> None:
    informal = [
        f"{match.group(1)!r} in: {text}" for _id, text in translations("ro") if (match := INFORMAL.search(text))
    ]
    assert informal == []


def test_the_informal_check_catches_what_it_should() -> None:
    caught = [
        "Trimite textul în română.",
        "👥 Deschide grupul",
        "Nu am înțeles: alege din meniu.",
        "Gata. Scrie-mi din nou.",
        "🔎 Caută după cuvinte",
    ]
    fine = [
        "Trimiteți textul în română.",
        "👥 Deschideți grupul",
        "Cine trimite mesajul îl vede aici.",
        "⏳ Așteaptă: urcă atunci când un participant se retrage.",
        "Acest cod fiscal (CUI) nu este valid: cifra de control nu se potrivește.",
    ]
    assert [text for text in caught if not INFORMAL.search(text)] == []
    assert [text for text in fine if INFORMAL.search(text)] == []


def test_romanian_says_va_rog_and_no_comma_before_sau() -> None:
    assert offending("ro", re.compile(r"\bvă rugăm\b", re.IGNORECASE)) == []
    assert offending("ro", re.compile(r",\s*sau\b")) == []


def test_romanian_does_not_speak_of_the_bot_as_a_place() -> None:
    # "Mesajul este prea lung pentru mine", "o problemă la mine", "Copiați la mine".
    assert offending("ro", re.compile(r"\b(?:pentru|la) mine\b", re.IGNORECASE)) == []


def test_romanian_plurals_have_three_forms() -> None:
    with (LOCALES_DIR / "ro" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="ro")
    short = [m.id[0] for m in catalog if m.id and m.pluralizable and (len(m.string) != 3 or not all(m.string))]
    assert short == []
    # "20 de mesaje": the third form takes "de" wherever the second is a count of something.
    plural = [m for m in catalog if m.id and m.pluralizable]
    missing_de = [
        m.id[0]
        for m in plural
        if re.search(r"\{(count|amount|days|limit|total|fetched)\} (?!de )\w", m.string[2])
        and not re.search(r"\{(count|amount|days|limit|total|fetched)\} de ", m.string[2])
        and re.search(r"\{(count|amount|days|limit|total|fetched)\} [a-zăâîșț]", m.string[1])
    ]
    assert missing_de == []


# ---------------------------------------------------------------------------------- a name ending with a period


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("De acum reprezentați {organisation}.", {"organisation": "Bioenergie Mureș S.R.L."}, "… S.R.L."),
        ("Reject the request of {organisation}?", {"organisation": "Northern Biomass Ltd."}, "… Ltd.?"),
        ("<b>{name}</b>. Next.", {"name": "EcoTech S.A."}, "<b>EcoTech S.A.</b> Next."),
        ('<a href="tg://user?id=1">{name}</a>.', {"name": "Ion I."}, '<a href="tg://user?id=1">Ion I.</a>'),
        ("{name}.", {"name": "EcoTech SRL"}, "EcoTech SRL."),
        ("{name}...", {"name": "Wait."}, "Wait...."),
        ("{count:>3}. {name}", {"count": 7, "name": "S.A."}, "  7. S.A."),
        ("{0} and {1}.", ("A.", "B."), "A. and B."),
    ],
)
def test_typeset_drops_the_second_period(template: str, values: object, expected: str) -> None:
    got = typeset(template, *values) if isinstance(values, tuple) else typeset(template, **values)  # type: ignore[arg-type]
    assert got.endswith(expected.removeprefix("…")) if expected.startswith("…") else got == expected


def test_every_translated_text_formats_that_way() -> None:
    i18n = build_i18n()
    with i18n.context():
        for locale in ("ro", "en"):
            text = i18n.gettext(
                "Your request to join for {organisation} is waiting for a manager's decision.", locale=locale
            )
            assert isinstance(text, Translated)
            assert ".." not in text.format(organisation="Bioenergie Mureș S.R.L.")
            plural = i18n.gettext(
                "{count} join request is waiting:", "{count} join requests are waiting:", 2, locale=locale
            )
            assert isinstance(plural, Translated)


async def test_an_organisation_named_with_a_final_period_joins_without_a_double_period(settings: Settings) -> None:
    """Bioenergie Mureș S.R.L. asks to join and is approved (Romanian); Northern Biomass Ltd. is rejected with a
    reason (English): everything the bot writes to the applicants and to both managers, cards edited afterwards
    included, has the name's own period end the sentence."""
    out = io.StringIO()
    code = await run_scenario_file(SCENARIOS / "name_ending_with_a_period.jsonl", settings, out=out)
    transcript = out.getvalue()
    assert code == 0, transcript
    assert "De acum reprezentați Bioenergie Mureș S.R.L.\n" in transcript
    assert "Reject the request of organisation Northern Biomass Ltd.? This cannot be undone." in transcript
    doubled = [line for line in transcript.splitlines() if re.search(r"(?<!\.)\.\.(?!\.)", line)]
    assert doubled == []


def test_a_rereads_changes_can_be_applied_again_after_a_merge(tmp_path: Path) -> None:
    """`python -m bot.i18n apply CHANGES.json` puts a reread's wording back into catalogues that a merge
    brought back to an older one; msgids gone from the code are reported, not added."""
    import shutil

    from bot.i18n import apply_rewordings

    shutil.copytree(LOCALES_DIR, tmp_path / "locales", ignore=shutil.ignore_patterns("*.mo", "__pycache__"))
    left = apply_rewordings(
        {
            "ro": {
                "Who was not reached": "Cine nu l-a primit încă",
                "{count} join request is waiting:": ["{count} cerere:", "{count} cereri:", "{count} de cereri:"],
                "A message the code no longer has": "…",
            },
            "en": {"Who was not reached": "Who did not get it"},
        },
        tmp_path / "locales",
    )
    assert left == {"ro": ["A message the code no longer has"], "en": []}
    with (tmp_path / "locales" / "ro" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        ro = {m.id[0] if isinstance(m.id, tuple) else m.id: m.string for m in read_po(po, locale="ro") if m.id}
    assert ro["Who was not reached"] == "Cine nu l-a primit încă"
    assert ro["{count} join request is waiting:"] == ("{count} cerere:", "{count} cereri:", "{count} de cereri:")
