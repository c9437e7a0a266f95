"""Small-cell suppression for ``/v1/stats``: no published count, nor a difference of them, singles anyone out.

Rule (the same in every service):

1. **Primary.** A count of at least 1 and below ``PSP_STATS_MIN_CELL`` (default 5) is suppressed.
2. **Complementary.** Cells that add up to a published (or derivable) total form a *group*. While a group has
   suppressed cells that could be recomputed from the rest (exactly one suppressed, or suppressed ones adding up
   to less than the minimum), its smallest published cell is suppressed too. Groups share cells, so this repeats
   until nothing changes. Cells nobody publishes but anyone can derive (e.g. open = opened - closed) take part.

A suppressed count is answered as JSON ``null``; zero is never suppressed (it singles nobody out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import Field

NULL_MEANS = (
    "A null count is suppressed: fewer than PSP_STATS_MIN_CELL cases, or hidden so that a suppressed neighbour "
    "cannot be recomputed from a total."
)
MIN_CELL_FIELD = Field(
    5, ge=1, description="Smallest count /v1/stats publishes; smaller cells (and their complements) are null."
)


class CellTable:
    """Named counts, the groups they add up in, and which of them must be suppressed."""

    def __init__(self, min_cell: int) -> None:
        self.min_cell = min_cell
        self.counts: dict[str, int] = {}
        self.groups: list[tuple[str, ...]] = []
        self._hidden: frozenset[str] | None = None

    def cell(self, name: str, count: int) -> str:
        """Register one count (a total, or a derived cell nobody publishes); return its name."""
        self.counts[name] = count
        self._hidden = None
        return name

    def breakdown(self, name: str, counts: Mapping[str, int], *, with_cells: Iterable[str] = ()) -> list[str]:
        """Register a breakdown's cells (``name:key``) as one group, with ``with_cells`` in it too."""
        names = [self.cell(f"{name}:{key}", count) for key, count in counts.items()]
        self.group(*names, *with_cells)
        return names

    def group(self, *names: str) -> None:
        """Cells whose sum is published or derivable (or that should be treated so)."""
        self.groups.append(tuple(names))
        self._hidden = None

    def hidden(self) -> frozenset[str]:
        """Every suppressed cell (primary and complementary)."""
        if self._hidden is None:
            self._hidden = frozenset(self._solve())
        return self._hidden

    def value(self, name: str) -> int | None:
        """The count, or None when suppressed."""
        return None if name in self.hidden() else self.counts[name]

    def values(self, name: str, keys: Iterable[str]) -> dict[str, int | None]:
        """A breakdown for the response: key -> count or None."""
        return {key: self.value(f"{name}:{key}") for key in keys}

    def _solve(self) -> set[str]:
        hidden = {name for name, n in self.counts.items() if 0 < n < self.min_cell}
        changed = True
        while changed:
            changed = False
            for group in self.groups:
                if self._recomputable(group, hidden):
                    shown = sorted((self.counts[c], c) for c in group if c not in hidden and self.counts[c] > 0)
                    if shown:
                        hidden.add(shown[0][1])
                        changed = True
        return hidden

    def _recomputable(self, group: tuple[str, ...], hidden: set[str]) -> bool:
        inside = [c for c in group if c in hidden]
        return bool(inside) and (len(inside) == 1 or sum(self.counts[c] for c in inside) < self.min_cell)
