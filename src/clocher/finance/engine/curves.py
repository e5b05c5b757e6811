"""Index values over time: past fixings (history) and the projection used for the future.

A variable-rate period is fixed in advance (taux préfixé) at its start date: on or before
the curve's `as_of` date the index value is the last published fixing (history); after it,
the projection: a forward curve (piecewise flat between its dates) or, without one, the
last known fixing held flat (flat scenario). A `shift` (e.g. +0.01 for +100 bp) moves the
projection only, never the past.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from clocher.finance.engine.loans import ZERO, Index


@dataclass(frozen=True, slots=True)
class IndexHistory:
    """Dated values of one index, sorted by date (value as a fraction: 0.03 = 3 %)."""

    index: Index
    dates: tuple[date, ...]
    values: tuple[Decimal, ...]

    @classmethod
    def of(cls, index: Index, points: Iterable[tuple[date, Decimal]]) -> IndexHistory:
        """Sorted, one value per date (the last one given wins)."""
        by_date = dict(points)
        ordered = sorted(by_date)
        return cls(index, tuple(ordered), tuple(by_date[d] for d in ordered))

    def value_at(self, when: date) -> Decimal | None:
        """The last value published on or before `when` (None before the first one)."""
        i = bisect_right(self.dates, when)
        return self.values[i - 1] if i else None

    def __len__(self) -> int:
        return len(self.dates)


@dataclass(frozen=True, slots=True)
class Curve:
    """Everything needed to fix every period of every variable loan.

    `history` holds past fixings per index, `forward` the projected values per index
    (piecewise flat from each date on), `flat` a single projected value per index (flat
    scenario, used when an index has no forward points), `shift` an additive shift of the
    projection. Without any of them for an index, the last historical fixing is held flat.
    """

    as_of: date
    history: Mapping[Index, IndexHistory] = field(default_factory=dict)
    forward: Mapping[Index, IndexHistory] = field(default_factory=dict)
    flat: Mapping[Index, Decimal] = field(default_factory=dict)
    shift: Decimal = ZERO
    name: str = "référence"
    _memo: dict[Index, dict[date, Decimal]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def flat_scenario(
        cls,
        as_of: date,
        values: Mapping[Index, Decimal],
        history: Mapping[Index, IndexHistory] | None = None,
    ) -> Curve:
        """Indices held at `values` after `as_of` (history before it, if given)."""
        return cls(
            as_of=as_of, history=dict(history or {}), flat=dict(values), name="scénario plat"
        )

    def shifted(self, shift: Decimal, name: str | None = None) -> Curve:
        """The same curve with the projection moved by `shift` (0.01 = +100 bp)."""
        return replace(
            self, shift=self.shift + shift, name=name or f"{self.name} {shift_label(shift)}"
        )

    def value(self, index: Index, when: date) -> Decimal:
        """The index value fixed at `when`; KeyError (French) when nothing is known."""
        return self.fixings(index)(when)

    def fixings(self, index: Index) -> Callable[[date], Decimal]:
        """`value` for one index, memoised: a book's loans fix on the same dates again and again."""
        memo = self._memo.setdefault(index, {})
        get, compute = memo.get, self._value

        def fixing(when: date) -> Decimal:
            found = get(when)
            if found is None:
                found = memo[when] = compute(index, when)
            return found

        return fixing

    def _value(self, index: Index, when: date) -> Decimal:
        if when <= self.as_of:
            past = self.history.get(index)
            value = past.value_at(when) if past is not None else None
            if value is not None:
                return value
            # No published fixing that old: fall back on the projection, unshifted.
            return self._projection(index, when)
        return self._projection(index, when) + self.shift

    def _projection(self, index: Index, when: date) -> Decimal:
        fwd = self.forward.get(index)
        if fwd is not None and len(fwd):
            value = fwd.value_at(when)
            return value if value is not None else fwd.values[0]
        if index in self.flat:
            return self.flat[index]
        past = self.history.get(index)
        if past is not None and len(past):
            value = past.value_at(self.as_of)
            return value if value is not None else past.values[0]
        raise KeyError(
            f"aucune valeur connue pour l'index {index.value} (ni historique ni projection)"
        )


def shift_label(shift: Decimal) -> str:
    bp = int((shift * 10000).to_integral_value())
    return f"{bp:+d} pb"
