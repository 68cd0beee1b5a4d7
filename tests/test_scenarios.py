"""The shipped scenarios pass, and a scenario that goes wrong says where and why."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from bot.config import Settings
from bot.sandbox.scenario import KINDS, run_scenario, run_scenario_file

SCENARIOS = Path(__file__).parent / "scenarios"
SUMMARY = re.compile(r"^(\d+) steps: (\d+) passed, (\d+) failed(?:, (\d+) not run)?$")


async def run_text(text: str, settings: Settings, *, as_json: bool = False, db: Path | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_scenario(text, settings, db=db, as_json=as_json, out=out)
    return code, out.getvalue()


def summary_of(output: str) -> tuple[int, int, int, int]:
    found = SUMMARY.match(output.rstrip("\n").splitlines()[-1])
    assert found, output
    steps, passed, failed, not_run = found.groups()
    return int(steps), int(passed), int(failed), int(not_run or 0)


def lines(*steps: Mapping[str, object] | str) -> str:
    return "\n".join(step if isinstance(step, str) else json.dumps(step, ensure_ascii=False) for step in steps) + "\n"


ANA = {"user": "ana", "id": 1001, "first_name": "Ana", "language_code": "en"}


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.jsonl")), ids=lambda path: path.name)
async def test_shipped_scenario_passes(path: Path, settings: Settings) -> None:
    # They double as documentation: each opens by saying what it shows, and shows more than a step or two.
    assert (await asyncio.to_thread(path.read_text, encoding="utf-8")).startswith("# ")
    out = io.StringIO()
    code = await run_scenario_file(path, settings, out=out)
    output = out.getvalue()
    assert code == 0, output
    steps, passed, failed, _ = summary_of(output)
    assert (passed, failed) == (steps, 0), output
    assert steps > 5


def test_the_promised_scenarios_are_shipped() -> None:
    shipped = {path.name for path in SCENARIOS.glob("*.jsonl")}
    assert {
        "onboarding_approval.jsonl",
        "language_switch.jsonl",
        "forged_and_unknown.jsonl",
        "invite_link.jsonl",
        "group_chat.jsonl",
        "projects_plan_first.jsonl",
        "projects_ranking.jsonl",
        "projects_competition.jsonl",
        "tender_sources.jsonl",
        "tenders_end_to_end.jsonl",
        "join_rejected_with_reason.jsonl",
        "confirmations.jsonl",
        "announcement_back_and_edit.jsonl",
        "announcement_dates.jsonl",
        "announcement_group.jsonl",
        "onboarding_returning.jsonl",
        "onboarding_join_form_edit.jsonl",
        "questions_copies.jsonl",
        "privacy_forget_by_manager.jsonl",
        "groups_card_chat.jsonl",
        "groups_guest_invited.jsonl",
        "propose_back_edit.jsonl",
        "name_ending_with_a_period.jsonl",
    } <= shipped


async def test_a_failed_expectation_names_its_line_and_stops_the_run(settings: Settings) -> None:
    text = lines(
        "# comments and blank lines keep their line numbers",
        ANA,
        "",
        {"as": "ana", "send": "/start"},
        {"as": "ana", "expect": "Goodbye forever"},
        {"as": "ana", "send": "/help"},
    )
    code, output = await run_text(text, settings)
    assert code == 1
    failed = [line for line in output.splitlines() if "✗" in line]
    assert len(failed) == 1, output
    assert failed[0].lstrip().startswith("5  ✗ ana expect /Goodbye forever/")
    assert "no match in the only message since their last action" in failed[0]
    assert "Hello, Ana" in failed[0]
    # The step after the failure never ran.
    assert "/help" not in output
    assert summary_of(output) == (4, 2, 1, 1)


async def test_expect_not_shows_what_matched(settings: Settings) -> None:
    code, output = await run_text(
        lines(ANA, {"as": "ana", "send": "/start"}, {"as": "ana", "expect_not": "hello"}), settings
    )
    assert code == 1
    assert re.search(r'3  ✗ ana expect_not /hello/ — matched: "👋 Hello, Ana!', output), output


async def test_a_tap_on_a_missing_button_lists_the_labels(settings: Settings) -> None:
    code, output = await run_text(
        lines(ANA, {"as": "ana", "send": "/start"}, {"as": "ana", "tap": "Teleport"}), settings
    )
    assert code == 1
    failed = next(line for line in output.splitlines() if "✗" in line)
    assert failed.lstrip().startswith('3  ✗ ana taps "Teleport"')
    for label in ("🇬🇧 English", "🤝 Join the cluster", "👤 My profile", "❓ Help"):
        assert label in failed
    assert summary_of(output) == (3, 2, 1, 0)


async def test_a_tap_before_any_buttons_and_a_tap_by_a_wrong_number(settings: Settings) -> None:
    code, output = await run_text(lines(ANA, {"as": "ana", "tap": 1}), settings)
    assert code == 1
    assert "the bot has no message with buttons to ana" in output
    code, output = await run_text(lines(ANA, {"as": "ana", "send": "/help"}, {"as": "ana", "tap": 9}), settings)
    assert code == 1
    assert 'no button number 9 on the newest message with buttons to ana; the buttons are: 1 "⬅️ Menu"' in output


async def test_expect_alert_reads_the_answer_to_the_last_tap(settings: Settings) -> None:
    text = lines(
        ANA,
        {"as": "ana", "send": "/language"},
        {"as": "ana", "tap": "English"},
        {"as": "ana", "expect_alert": "^Language: .*English$"},
        {"as": "ana", "expect_alert": "already decided"},
    )
    code, output = await run_text(text, settings)
    assert code == 1
    assert '4  ✓ ana expect_alert /^Language: .*English$/ — toast: "Language: 🇬🇧 English"' in output
    assert '5  ✗ ana expect_alert /already decided/ — no match; toast: "Language: 🇬🇧 English"' in output


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (lines(ANA, '{"as": "ana", "send": "/start"'), 2, "invalid JSON: Expecting ',' delimiter"),
        (lines(ANA, "[1, 2]"), 2, "a step is one JSON object"),
        (lines(ANA, {"as": "ana", "sned": "/start"}), 2, "unknown key 'sned'; a step is one of: user, send, tap"),
        (lines(ANA, {"as": "ana", "send": "/start", "loud": True}), 2, "unknown key 'loud' for a 'send' step"),
        (lines(ANA, {"as": "ana", "send": "/start", "tap": 1}), 2, "one step does one thing"),
        (lines({"as": "bob", "send": "/start"}), 1, "nobody called 'bob' has been declared yet"),
        (lines({"user": "x", "id": 7, "role": "member"}), 1, "a member represents an organisation"),
        (lines({"user": "x", "id": 7, "role": "king"}), 1, "unknown role 'king'"),
        (lines({"user": "x", "id": "7"}), 1, "'id' must be a whole number, not \"7\""),
        (lines(ANA, {"user": "ana", "id": 1002}), 2, "'ana' is already declared"),
        (lines(ANA, {"user": "bob", "id": 1001}), 2, "id 1001 is already 'ana''s"),
        (lines(ANA, {"as": "ana", "expect": "(unclosed"}), 2, "'expect' is not a valid regular expression"),
        (lines(ANA, {"as": "ana", "send": "/start ${code}"}), 2, '${code} is used before a "capture" step'),
        (lines(ANA, {"as": "ana", "tap": 0}), 2, "buttons are numbered from 1"),
        (lines(ANA, {"as": "ana", "send": "  "}), 2, "Telegram cannot send an empty message"),
        (lines(ANA, {"as": "ana", "send": "hi", "chat": 12}), 2, '"chat" is a group chat id'),
        (lines(ANA, {"as": "ana", "capture": "x", "into": "not a name"}), 2, '"into" names a variable'),
    ],
)
async def test_a_bad_line_is_reported_before_anything_runs(
    text: str, line: int, message: str, settings: Settings
) -> None:
    code, output = await run_text(text, settings)
    assert code == 1
    first = output.splitlines()[0]
    assert re.match(rf"\s*{line}  ✗ line {line}: ", first), output
    assert message in first, output
    assert "Traceback" not in output
    steps, passed, failed, not_run = summary_of(output)
    assert (passed, failed, not_run) == (0, 1, steps - 1)


async def test_json_output_is_one_object_per_line(settings: Settings) -> None:
    text = lines(
        "// a comment",
        ANA,
        {"as": "ana", "send": "/start"},
        {"as": "ana", "tap": "English"},
        {"as": "ana", "expect": "From now on"},
        {"as": "ana", "expect": "not said"},
    )
    code, output = await run_text(text, settings, as_json=True)
    assert code == 1
    records = [json.loads(line) for line in output.splitlines()]
    steps, summary = records[:-1], records[-1]
    assert summary == {"summary": {"steps": 5, "passed": 4, "failed": 1, "not_run": 0}}
    assert [record["line"] for record in steps] == [2, 3, 4, 5, 6]
    assert [record["ok"] for record in steps] == [True, True, True, True, False]
    assert steps[1]["step"] == {"as": "ana", "send": "/start"}
    welcome = steps[1]["messages"][0]
    assert welcome["to"] == "ana" and welcome["chat_id"] == 1001 and welcome["edited"] is False
    assert "Hello, Ana" in welcome["text"]
    assert ["🇷🇴 Română", "🇬🇧 English"] in welcome["buttons"]
    assert steps[2]["answers"] == [{"to": "ana", "text": "Language: 🇬🇧 English", "alert": False}]
    assert steps[4]["error"].startswith("no match")
    assert all(record["error"] is None for record in steps[:4])


async def test_json_output_of_a_bad_line(settings: Settings) -> None:
    code, output = await run_text(lines(ANA, {"as": "ana", "sing": "la"}), settings, as_json=True)
    assert code == 1
    problem, summary = (json.loads(line) for line in output.splitlines())
    assert problem["line"] == 2 and problem["ok"] is False and "unknown key 'sing'" in problem["error"]
    assert problem["step"] == {"as": "ana", "sing": "la"}
    assert summary["summary"]["failed"] == 1


async def test_the_transcript_shows_what_everyone_received(settings: Settings) -> None:
    text = lines(
        {"user": "maria", "id": 3001, "first_name": "Maria", "language_code": "en", "role": "manager"},
        ANA,
        {"as": "maria", "send": "/start"},
        {"as": "ana", "send": "/join"},
        {"as": "ana", "send": "Solar Valley SRL"},
        {"as": "ana", "send": "14399840"},
        {"as": "ana", "send": "engineer"},
        {"as": "ana", "tap": "Send request"},
        # Maria's card arrived because of Ana's tap: still "since maria's last action".
        {"as": "maria", "expect": "Request to join the cluster.*Solar Valley SRL"},
    )
    code, output = await run_text(text, settings)
    assert code == 0, output
    tap_block = output.split('ana taps "Send request"', 1)[1].split("\n 9  ", 1)[0]
    assert "bot → ana (edited): Please check your request" in tap_block
    assert "bot → ana: ✅ Your request has been sent" in tap_block
    assert "bot → maria: 📥 Request to join the cluster" in tap_block
    assert "[1 ✅ Approve] [2 ❌ Reject]" in tap_block


async def test_a_given_database_is_kept_and_reused(tmp_path: Path, settings: Settings) -> None:
    db = tmp_path / "kept" / "scenario.sqlite3"
    maria = {"user": "maria", "id": 3001, "first_name": "Maria", "language_code": "en", "role": "manager"}
    radu = {"user": "radu", "id": 2001, "role": "member", "organisation": "EcoTech SRL"}
    code, output = await run_text(lines(maria, radu), settings, db=db)
    assert code == 0, output
    assert db.exists()
    # EcoTech SRL is still there in a second run on the same file.
    invite = {"as": "maria", "send": "/invite EcoTech SRL"}
    code, output = await run_text(lines(maria, invite, {"as": "maria", "expect": "Invite link"}), settings, db=db)
    assert code == 0, output
    # ...and not in a run on a fresh database.
    code, output = await run_text(lines(maria, invite, {"as": "maria", "expect": "Invite link"}), settings)
    assert code == 1


async def test_an_unreadable_file_is_a_usage_error(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_scenario_file(tmp_path / "missing.jsonl", settings)
    assert code == 2
    assert "cannot read the scenario" in capsys.readouterr().err


async def test_a_forged_tap_counts_as_an_action(settings: Settings) -> None:
    code, output = await run_text(lines(ANA, {"as": "ana", "forge": "lang:en"}), settings)
    assert code == 1
    assert "a forged tap needs a bot message to come from" in output
    text = lines(
        ANA,
        {"as": "ana", "send": "/start"},
        {"as": "ana", "forge": "jr:7:approve"},
        {"as": "ana", "expect_alert": "only the cluster's managers"},
        # The welcome came before her latest action.
        {"as": "ana", "expect_not": "Hello"},
        {"as": "ana", "tap": "English"},
        {"as": "ana", "expect_alert": "^Language"},
        {"as": "ana", "expect": "From now on"},
    )
    code, output = await run_text(text, settings)
    assert code == 0, output
    assert '3  ana forges a tap with data "jr:7:approve"' in output
    assert "bot → ana (alert): Sorry, only the cluster's managers can do that." in output


def test_step_kinds_form_a_table() -> None:
    assert {"user", "send", "tap", "forge", "expect", "expect_not", "expect_alert", "capture"} <= set(KINDS)
    assert KINDS["expect"].is_check and not KINDS["send"].is_check
    assert not KINDS["user"].acts_as_person
