"""The README a newcomer reads: what the bot does first, the two commands that work, the sandbox's people, and
links that stay inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import Settings
from bot.sandbox.seed import PEOPLE

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)|<(https?://[^>]+)>|\bhref=\"([^\"]+)\"")
# Code (fenced blocks and `spans`) shows examples, such as a card's `<a href="tg://user?id=…">`: no links.
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def prose(document: Path) -> str:
    return CODE.sub("", document.read_text(encoding="utf-8"))


def test_every_link_points_inside_the_repository() -> None:
    problems = []
    for document in DOCUMENTS:
        for match in LINK.finditer(prose(document)):
            target = next(group for group in match.groups() if group)
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                problems.append(f"{document.name}: {target} leaves the repository")
                continue
            path = (document.parent / target.split("#", 1)[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                problems.append(f"{document.name}: {target} is not a file of the repository")
    assert problems == []
    # The internals moved to docs/ are linked from the README.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for document in DOCUMENTS[1:]:
        assert f"](docs/{document.name})" in readme, document.name


def test_the_readme_starts_with_what_the_bot_does_then_the_two_commands_then_the_sandbox() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    member, manager = readme.index("**For a member**"), readme.index("**For a manager**")
    commands, people = readme.index("## Two commands"), readme.index("## The sandbox: its people and `/as`")
    details = readme.index("## What it does, in detail")
    assert member < manager < commands < people < details
    assert ".venv/bin/pip install -e . && .venv/bin/clusterbot" in readme[commands:people]
    # The test command is the one .ci/run runs.
    assert ".venv/bin/python -m pytest\n```" in readme[commands:people]
    assert ".venv/bin/python -m pytest" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    sandbox = readme[people:details]
    for person in PEOPLE:
        assert f"| `{person.name}` |" in sandbox, person.name
    assert "clusterbot --as maria" in sandbox and "/as NAME" in sandbox


def test_env_example_and_readme_agree_on_the_default_locale() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    default = Settings.from_values().default_locale
    assert f"\nDEFAULT_LOCALE={default}\n" in example
    assert f"| `DEFAULT_LOCALE` | `{default}` | `ro` or `en`, for people whose Telegram sends no language |" in readme
    comment = example.split("\nDEFAULT_LOCALE=", 1)[0].rsplit("\n\n", 1)[1]
    assert "tells none" in comment and "neither Romanian nor English" not in comment
