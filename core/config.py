"""The configurable facts the core measures against: targets (docs/domain.md defaults), units, items.

Plain frozen dataclasses, no file reading: the worker and the auditor build one from the
reference data (`HubConfig.from_reference()`) or tests build one by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Target:
    """A threshold; `strict` means the value must exceed it ("more than 80 %")."""

    value: Decimal
    strict: bool = False

    def met(self, actual: Decimal | None) -> bool:
        if actual is None:
            return False
        return actual > self.value if self.strict else actual >= self.value


@dataclass(frozen=True, slots=True)
class Targets:
    """Defaults from docs/domain.md: urban 100 %, rural > 80 %, 30 m²/100 households, big-city care > 80 %,
    monthly visits 100 %, every unit with a "one old and one small" solution."""

    urban_coverage: Target = Target(Decimal("1.0000"))
    rural_coverage: Target = Target(Decimal("0.8000"), strict=True)
    floor_area_per_100_households: Target = Target(Decimal("30.00"))
    big_city_care_coverage: Target = Target(Decimal("0.8000"), strict=True)
    visit_rate: Target = Target(Decimal("1.0000"))
    solution_item: str = "ONE_OLD_ONE_SMALL_SOLUTION"


@dataclass(frozen=True, slots=True)
class HubConfig:
    """Everything the pure core needs besides the records."""

    provinces: tuple[str, ...]
    policy_items: tuple[str, ...]
    targets: Targets = field(default_factory=Targets)
    burst_threshold: int = 20
    """Rejections from one province within one burst window that make a REJECTION_BURST notification."""
    burst_window_ms: int = 60_000

    @classmethod
    def from_reference(cls, **overrides: object) -> HubConfig:
        """Provinces and policy items from the shipped reference data (schemas/data)."""
        from schemas import reference

        return cls(provinces=tuple(reference.provinces()), policy_items=tuple(reference.policy_items()),
                   **overrides)  # type: ignore[arg-type]  # overrides are the dataclass's own fields
