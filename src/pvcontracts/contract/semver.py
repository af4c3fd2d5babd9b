"""Semantic versions: parse, order, and measure the size of a bump."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?$")

BUMP_ORDER = {"none": 0, "patch": 1, "minor": 2, "major": 3}


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Version":
        m = _SEMVER.match(text)
        if not m:
            raise ValueError(f"{text!r} is not a semantic version MAJOR.MINOR.PATCH")
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4))

    @property
    def key(self) -> tuple[int, int, int, int, str]:
        # A pre-release sorts before its release (1.2.0-rc1 < 1.2.0).
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, self.prerelease or "")

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{self.prerelease}" if self.prerelease else core


def bump_size(old: Version, new: Version) -> str:
    """The size of the step from old to new: none, patch, minor or major (a step down is 'none')."""
    if new.key <= old.key:
        return "none"
    if new.major != old.major:
        return "major"
    if new.minor != old.minor:
        return "minor"
    if new.patch != old.patch:
        return "patch"
    return "patch"  # only the pre-release tag moved


def required_for(old: Version, change: str) -> str:
    """The bump a change needs; under 0.x a breaking change needs only a minor bump, as semver allows."""
    if old.major == 0 and change == "major":
        return "minor"
    return change
