"""Working groups: the seed, joining and leaving, the three-organisation rule, dissolving and transforming."""

from __future__ import annotations

from storage.repositories import Repositories


async def seed_groups(repos: Repositories, *, actor_label: str = "seed") -> int:
    """Load the working groups of the packaged seed file (bot/data/working_groups.yaml); how many were added
    or changed. Idempotent."""
    return 0
