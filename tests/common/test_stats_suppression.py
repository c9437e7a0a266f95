"""Small-cell suppression (psp_common.stats): no published count, nor a difference of counts, below the minimum."""

from __future__ import annotations

from psp_common.stats import CellTable


def test_a_cell_below_the_minimum_is_null_and_so_is_its_smallest_neighbour() -> None:
    table = CellTable(5)
    table.cell("total", 21)
    table.breakdown("by_unit", {"ICU": 1, "ED": 8, "WARD": 12})
    assert table.value("total") == 21
    # ICU alone would be 21 - 8 - 12 = 1 again: ED (the next smallest) is hidden with it.
    assert table.values("by_unit", ["ICU", "ED", "WARD"]) == {"ICU": None, "ED": None, "WARD": 12}


def test_suppressed_cells_adding_up_below_the_minimum_take_another_one_with_them() -> None:
    table = CellTable(5)
    table.breakdown("by_unit", {"A": 1, "B": 2, "C": 6, "D": 9})
    # A + B = 3 could still be recomputed as a (small) pair: C joins them.
    assert table.values("by_unit", ["A", "B", "C", "D"]) == {"A": None, "B": None, "C": None, "D": 9}


def test_a_derived_cell_nobody_publishes_still_protects_its_complement() -> None:
    table = CellTable(5)
    table.cell("opened", 9)
    table.group(table.cell("closed", 8), table.cell("open", 1))  # open = opened - closed
    assert table.value("opened") == 9 and table.value("closed") is None


def test_a_cell_hidden_in_one_breakdown_is_protected_in_every_breakdown_it_adds_up_in() -> None:
    table = CellTable(5)
    table.cell("decisions", 13)
    table.cell("no_trigger", 7)
    table.group("no_trigger", table.cell("fired", 6))
    table.breakdown("by_urgency", {"immediate": 6}, with_cells=["no_trigger"])
    table.breakdown("by_mode", {"group": 2, "individual": 4}, with_cells=["no_trigger"])
    # by_mode hides both its cells (2 + 4 = 6 is fine); nothing forces no_trigger out ...
    assert table.value("no_trigger") == 7 and table.values("by_mode", ["group", "individual"]) == {
        "group": None,
        "individual": None,
    }
    assert table.values("by_urgency", ["immediate"]) == {"immediate": 6}
    # ... but a single small no_trigger would be decisions - sum(by_urgency): the urgency cell goes too.
    small = CellTable(5)
    small.cell("decisions", 7)
    small.cell("no_trigger", 1)
    small.group("no_trigger", small.cell("fired", 6))
    small.breakdown("by_urgency", {"immediate": 6}, with_cells=["no_trigger"])
    assert small.value("no_trigger") is None and small.values("by_urgency", ["immediate"]) == {"immediate": None}
    assert small.value("decisions") == 7


def test_zero_is_published_and_a_total_below_the_minimum_is_null() -> None:
    table = CellTable(5)
    table.cell("cases", 3)
    table.group(table.cell("purged", 0), table.cell("kept", 3))
    assert table.value("purged") == 0 and table.value("cases") is None and table.value("kept") is None


def test_minimum_of_one_publishes_everything() -> None:
    table = CellTable(1)
    table.breakdown("by_unit", {"A": 1, "B": 2})
    assert table.values("by_unit", ["A", "B"]) == {"A": 1, "B": 2}
