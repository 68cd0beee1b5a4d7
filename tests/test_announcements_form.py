"""A manager's announcement form before Send: Back and Edit (a typo no longer means starting over), Telegram's
whole 4,096 characters for the text (1,024 for a caption), and forged presses of the new buttons refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from bot.config import Settings
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot

STALE = "This button is no longer valid. Open /menu for a fresh one."
PREVIEW_BUTTONS = [
    "🚀 Send now",
    "🕒 Schedule",
    "✏️ Audience",
    "✏️ Romanian text",
    "✏️ English text",
    "⬅️ Back",
    "✖️ Cancel",
]


@pytest.fixture
async def sandbox(migrated_url: str, make_settings: Callable[..., Settings]) -> AsyncIterator[SandboxBot]:
    async with SandboxBot(make_settings(migrated_url, progress_interval=0.05)) as running:
        yield running


async def people(sandbox: SandboxBot) -> tuple[SandboxUser, SandboxUser, SandboxUser]:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager")
    ana = await sandbox.person("ana", 1001, "Ana", language_code="ro", role="member", organisation="EcoTech SRL")
    dan = await sandbox.person("dan", 1002, "Dan", language_code="en", role="member", organisation="Bio SRL")
    for person in (maria, ana, dan):
        await person.send("/start")
    return maria, ana, dan


async def test_a_typo_is_mended_from_the_preview_and_the_form_walks_back_step_by_step(sandbox: SandboxBot) -> None:
    maria, ana, dan = await people(sandbox)
    await maria.send("/announce")
    await maria.tap("All members")
    await maria.send("Adunarea generală are loc joi la ora 01.")
    await maria.send("The general assembly is on Thursday at 10.")
    assert maria.last_message is not None and maria.last_message.labels == PREVIEW_BUTTONS

    # The Romanian text had a typo: only that text is sent again, then straight back to the preview.
    await maria.tap("Romanian text")
    assert "Send the text in Romanian" in (maria.last_text or "")
    assert maria.last_message is not None
    assert maria.last_message.labels == ["↩️ Keep the current text", "⬅️ Back", "✖️ Cancel"]
    preview = await maria.send("Adunarea generală are loc joi la ora 10.")
    assert [message.content.split("\n\n")[-1] for message in preview] == [
        "Adunarea generală are loc joi la ora 10.",
        "The general assembly is on Thursday at 10.",
    ]
    # The old preview's buttons are gone: only the newest can be pressed.
    previews = [message for message in maria.messages if "Send it to" in message.content]
    assert len(previews) == 2 and previews[0].labels == [] and previews[1].labels == PREVIEW_BUTTONS

    # Another audience, the texts kept: for English readers only, one message.
    await maria.tap("✏️ Audience")
    assert "Who should receive it?" in (maria.last_text or "")
    preview = [message for message in await maria.tap("Members who read English") if "Preview" in message.content]
    assert len(preview) == 1
    assert preview[0].content == (
        "📣 Send it to members who read English?\n👁 Preview: members who read English see\n\n"
        "The general assembly is on Thursday at 10."
    )
    assert preview[0].labels == ["🚀 Send now", "🕒 Schedule", "✏️ Audience", "✏️ English text", "⬅️ Back", "✖️ Cancel"]
    # Its Romanian text is not the audience's: a forged Edit of it is refused, the preview stays.
    assert await maria.forge("ann:ero") == (STALE, True)

    # Back, step by step: the English text (kept as it was), then the audience.
    await maria.tap("Back")
    assert "Send the text in English" in (maria.last_text or "")
    await maria.tap("Back")
    assert "Who should receive it?" in (maria.last_text or "")
    # Everyone again: each text is asked for again and kept with one press.
    await maria.tap("All members")
    assert "Send the text in Romanian" in (maria.last_text or "")
    await maria.tap("Keep the current text")
    assert "Now the same in English" in (maria.last_text or "")
    assert maria.last_message is not None
    assert maria.last_message.labels == [
        "Same text for everyone",
        "↩️ Keep the current text",
        "⬅️ Back",
        "✖️ Cancel",
    ]
    preview = [message for message in await maria.tap("Keep the current text") if "Preview" in message.content]
    assert len(preview) == 2
    # From the preview Back is the last text; Schedule, then Back, is the preview again.
    await maria.tap("Schedule")
    await maria.tap("Back")
    assert maria.last_message is not None and maria.last_message.labels == PREVIEW_BUTTONS

    await maria.tap("Send now")
    await sandbox.deliver()
    assert ana.last_text == "Adunarea generală are loc joi la ora 10."
    assert dan.last_text == "The general assembly is on Thursday at 10."
    assert all("ora 01" not in message.content for message in ana.messages)


async def test_the_same_text_for_everyone_is_one_preview_and_follows_an_edit(sandbox: SandboxBot) -> None:
    maria, ana, dan = await people(sandbox)
    await maria.send("/announce")
    await maria.tap("All members")
    await maria.send("Vizită la laborator miercuri.")
    preview = await maria.tap("Same text for everyone")
    assert [message.content for message in preview if "Preview" in message.content] == [
        "📣 Send it to all members?\n👁 Preview: every member sees\n\nVizită la laborator miercuri."
    ]
    await maria.tap("Romanian text")
    await maria.send("Vizită la laborator joi.")
    await maria.tap("Send now")
    await sandbox.deliver()
    assert ana.last_text == dan.last_text == "Vizită la laborator joi."


async def test_an_announcement_may_use_telegrams_whole_message(sandbox: SandboxBot) -> None:
    maria, ana, _dan = await people(sandbox)
    # Outside the form, the general limit stands.
    await maria.send("x" * 1200)
    assert maria.last_text == "That message is too long: at most 1000 characters, and this one has 1200."

    await maria.send("/announce")
    await maria.tap("read Romanian")
    long_text = "Raportul anual al clusterului. " * 130  # 4,030 characters
    preview = await maria.send(long_text)
    # At Telegram's limit the heading no longer fits above the text: it comes on its own, the text whole.
    assert [message.content for message in preview] == [
        "📣 Send it to members who read Romanian?\n👁 Preview: members who read Romanian see",
        long_text.strip(),
    ]
    assert preview[-1].labels[:2] == ["🚀 Send now", "🕒 Schedule"]

    # A photo's caption has Telegram's 1,024; over it, the limit and the length are said, Cancel kept.
    await maria.tap("Romanian text")
    await maria.send_photo(b"\x89PNG fake", caption="c" * 1100)
    assert (
        maria.last_text == "The message is too long: with a photo or a document Telegram takes at most 1,024 "
        "characters, and this one has 1,100. Please shorten it and send it again."
    )
    assert maria.last_message is not None and maria.last_message.labels == ["⬅️ Back", "✖️ Cancel"]
    await maria.send_photo(b"\x89PNG fake", caption="Poza de grup.")
    await maria.tap("Send now")
    await sandbox.deliver()
    assert ana.last_message is not None and ana.last_message.content == "Poza de grup."


async def test_the_line_naming_the_group_counts_against_the_limit(sandbox: SandboxBot) -> None:
    from bot.app import fill_empty_content

    assert sandbox.rt is not None
    await fill_empty_content(sandbox.rt.session_factory)
    maria, _ana, _dan = await people(sandbox)
    await maria.send("/announce")
    await maria.tap("Members of a working group")
    await maria.tap("Sludge treatment")
    await maria.send("y" * 4096)
    text = maria.last_text or ""
    assert text.startswith("The message is too long: Telegram takes at most 3,9") and "this one has 4,096" in text
    assert maria.last_message is not None and maria.last_message.labels == ["⬅️ Back", "✖️ Cancel"]
    # Back from the first text is the audience; the group's list has Back too.
    await maria.tap("Back")
    assert "Who should receive it?" in (maria.last_text or "")
    await maria.tap("Members of a working group")
    assert maria.last_message is not None and maria.last_message.labels[-2:] == ["⬅️ Back", "✖️ Cancel"]


async def test_the_new_buttons_pressed_out_of_turn_or_by_a_member_are_refused(sandbox: SandboxBot) -> None:
    maria, _ana, dan = await people(sandbox)
    for data in ("ann:back", "ann:keep", "ann:eaud", "ann:ero", "ann:een", "ann:edit"):
        assert await dan.forge(data) in ((STALE, True), ("Sorry, only the cluster's managers can do that.", True))
    # A manager with no form open: stale, nothing happens.
    for data in ("ann:back", "ann:keep", "ann:eaud", "ann:een"):
        assert await maria.forge(data) == (STALE, True), data
    # In the middle of the form, a Keep with nothing to keep is refused too.
    await maria.send("/announce")
    await maria.tap("All members")
    assert await maria.forge("ann:keep") == (STALE, True)
    assert await maria.forge("ann:same") == (STALE, True)
    assert "Send the text in Romanian" in (maria.last_text or "")
