"""Chart geometry (domain/charts.py): round axes, bar heights in proportion, suppressed cells never drawn as bars."""

from __future__ import annotations

import pytest

from psp_console.domain.charts import PALETTE, Chart, Series, layout, nice_scale, number

MONTHS = ("2026-09", "2026-10", "2026-11")


def chart(values: dict[tuple[str, str], float | None], series: tuple[str, ...] = ("a", "b")) -> Chart:
    return Chart(
        key="k",
        title="T",
        description="D",
        x_label="Month",
        y_label="Cases",
        categories=MONTHS,
        series=tuple(Series(s, s.upper()) for s in series),
        values=values,
        min_cell=5,
    )


@pytest.mark.parametrize(
    ("top", "expected"),
    [(0, (1, 1)), (3, (3, 1)), (7, (8, 2)), (10, (10, 2)), (23, (25, 5)), (99, (100, 20)), (0.4, (0.4, 0.1))],
)
def test_nice_scale_is_round_and_covers_the_top(top: float, expected: tuple[float, float]) -> None:
    y_max, step = nice_scale(top)
    assert (y_max, step) == pytest.approx(expected)
    assert y_max >= top and 1 <= round(y_max / step) <= 6


def test_bars_are_in_proportion_on_a_zero_based_axis() -> None:
    geo = layout(chart({("a", "2026-09"): 10, ("b", "2026-09"): 5, ("a", "2026-10"): 0, ("b", "2026-11"): 7.5}))
    assert len(geo.bars) == 6 and geo.markers == []  # every cell drawn; unlisted cells are zero
    by_cell = {(b.series, b.category): b for b in geo.bars}
    plot = geo.bottom - geo.top
    assert by_cell[("a", "2026-09")].height == pytest.approx(plot)  # 10 is the axis maximum
    assert by_cell[("b", "2026-09")].height == pytest.approx(plot / 2)
    assert by_cell[("b", "2026-11")].height == pytest.approx(plot * 0.75)
    assert by_cell[("a", "2026-10")].height == 0
    for bar in geo.bars:
        assert bar.y + bar.height == pytest.approx(geo.bottom)  # standing on the baseline
        assert geo.left <= bar.x and bar.x + bar.width <= geo.right
    assert [t.label for t in geo.ticks] == ["0", "2", "4", "6", "8", "10"]
    assert geo.ticks[0].y == geo.bottom and geo.ticks[-1].y == pytest.approx(geo.top)
    # groups in category order, series in legend order, one colour per series
    xs = [(b.category, b.series) for b in sorted(geo.bars, key=lambda b: b.x)]
    assert xs == [(m, s) for m in MONTHS for s in ("a", "b")]
    assert geo.colours == {"a": PALETTE[0], "b": PALETTE[1]}
    assert by_cell[("b", "2026-11")].text == "2026-11, B: 7.5"
    assert [label.text for label in geo.labels] == list(MONTHS)


def test_a_suppressed_cell_is_a_marker_not_a_bar_and_not_zero() -> None:
    c = chart({("a", "2026-09"): None, ("b", "2026-09"): 12, ("a", "2026-10"): 6})
    geo = layout(c)
    assert ("a", "2026-09") not in {(b.series, b.category) for b in geo.bars}
    assert len(geo.bars) == 5 and len(geo.markers) == 1
    marker = geo.markers[0]
    assert marker.text == "<5" and marker.label == "2026-09, A: <5 (suppressed)"
    assert c.shown("a", "2026-09") == "<5" and c.shown("b", "2026-09") == "12" and c.suppressed == 1
    # the suppressed cell does not set the axis (its true value is unknown): 12 does
    assert geo.ticks[-1].label == "15"


def test_only_suppressed_or_zero_cells() -> None:
    assert chart({}).empty and layout(chart({})).bars[0].height == 0
    only_hidden = chart({(s, m): None for s in "ab" for m in MONTHS})
    geo = layout(only_hidden)
    assert not only_hidden.empty and geo.bars == [] and len(geo.markers) == 6
    assert [t.label for t in geo.ticks] == ["0", "1"]
    no_series = layout(chart({}, series=()))
    assert no_series.bars == [] and no_series.ticks == []


def test_many_months_write_every_nth_label() -> None:
    months = tuple(f"2025-{m:02d}" for m in range(1, 13)) + tuple(f"2026-{m:02d}" for m in range(1, 13))
    c = Chart("k", "T", "D", "Month", "Cases", months, (Series("a", "A"),), {}, 5)
    geo = layout(c)
    assert len(geo.bars) == 24
    assert 1 < len(geo.labels) < 24 and geo.labels[0].text == "2025-01"
    gaps = {round(b.x - a.x, 6) for a, b in zip(geo.labels, geo.labels[1:], strict=False)}
    assert len(gaps) == 1 and gaps.pop() >= 56  # evenly spaced, never overlapping


def test_numbers_read_plainly() -> None:
    assert (number(12.0), number(12.5), number(0), number(7.25)) == ("12", "12.5", "0", "7.2")


def test_an_absent_measure_is_neither_drawn_nor_zero() -> None:
    c = Chart("k", "T", "D", "Month", "Minutes", MONTHS, (Series("p50", "p50"),), {("p50", "2026-10"): 30}, 5,
              absent="none")  # fmt: skip
    geo = layout(c)
    assert [(b.category, b.height > 0) for b in geo.bars] == [("2026-10", True)] and geo.markers == []
    assert c.shown("p50", "2026-09") == "none" and c.shown("p50", "2026-10") == "30"
