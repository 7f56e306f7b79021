from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelkit.errors import ParameterError
from funnelkit.stats import (
    MIN_EXPECTED,
    benjamini_hochberg,
    erfc_expr,
    fisher_exact,
    odds_ratio,
    odds_ratio_test,
    too_few_expr,
    two_proportion_p_value,
    two_proportion_test,
    verdict_expr,
    wilson_high,
    wilson_interval,
    wilson_low,
)


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (7, 50, 0.0695, 0.2619),
        (0, 10, 0.0, 0.2775),
        (842, 8000, 0.0987, 0.1122),
        (10, 10, 0.7225, 1.0),
        (1, 2, 0.0945, 0.9055),
    ],
)
def test_wilson_interval_known_values(successes: int, trials: int, low: float, high: float) -> None:
    got = wilson_interval(successes, trials)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_without_trials_is_the_whole_unit_interval() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_interval_widens_with_confidence() -> None:
    low95, high95 = wilson_interval(30, 100)
    low99, high99 = wilson_interval(30, 100, confidence=0.99)
    assert low99 < low95 < 0.3 < high95 < high99


@pytest.mark.parametrize(("successes", "trials"), [(-1, 10), (11, 10), (0, -1)])
def test_wilson_interval_rejects_impossible_counts(successes: int, trials: int) -> None:
    with pytest.raises(ParameterError, match="needs 0 <= successes <= trials"):
        wilson_interval(successes, trials)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95.0])
def test_wilson_interval_rejects_bad_confidence(confidence: float) -> None:
    with pytest.raises(ParameterError, match="confidence: must be between 0 and 1"):
        wilson_interval(1, 2, confidence=confidence)


def test_wilson_expressions_give_known_values_and_handle_zero_and_null() -> None:
    df = pl.DataFrame({"s": [7, 0, 842, 0, None], "n": [50, 10, 8000, 0, 4]})
    out = df.select(low=wilson_low("s", "n"), high=wilson_high(pl.col("s"), pl.col("n")))
    low = out["low"].to_list()
    high = out["high"].to_list()
    assert low[:3] == pytest.approx([0.0695, 0.0, 0.0987], abs=5e-5)
    assert high[:3] == pytest.approx([0.2619, 0.2775, 0.1122], abs=5e-5)
    assert (low[3], high[3]) == (0.0, 1.0)
    assert (low[4], high[4]) == (None, None)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 5000), st.integers(0, 5000), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_expression_matches_scalar_and_brackets_the_rate(
    a: int, b: int, confidence: float
) -> None:
    successes, trials = min(a, b), max(a, b)
    low, high = wilson_interval(successes, trials, confidence=confidence)
    assert 0.0 <= low <= high <= 1.0
    if trials:
        assert low <= successes / trials + 1e-12
        assert high >= successes / trials - 1e-12
    row = pl.DataFrame({"s": [successes], "n": [trials]}).select(
        wilson_low("s", "n", confidence=confidence), wilson_high("s", "n", confidence=confidence)
    )
    assert row.row(0) == pytest.approx((low, high), abs=1e-12)


def test_erfc_expression_is_within_its_documented_error() -> None:
    xs = [i / 50 for i in range(-300, 600)]
    got = pl.DataFrame({"x": xs}).select(erfc_expr(pl.col("x"))).to_series().to_list()
    for x, value in zip(xs, got, strict=True):
        assert value == pytest.approx(math.erfc(x), rel=2e-7, abs=1e-300)


@pytest.mark.parametrize(
    ("counts", "verdict"),
    [
        ((90, 1000, 120, 1000), "increase"),
        ((120, 1000, 90, 1000), "decrease"),
        ((300, 1000, 310, 1000), "within noise"),
        ((10, 29, 20, 29), "too few"),  # fewer than 30 trials
        ((4, 1000, 40, 1000), "too few"),  # fewer than 5 successes on a side
        ((996, 1000, 900, 1000), "too few"),  # fewer than 5 failures on a side
    ],
)
def test_two_proportion_verdicts(counts: tuple[int, int, int, int], verdict: str) -> None:
    assert two_proportion_test(*counts).verdict == verdict


def test_two_proportion_test_known_p_value() -> None:
    test = two_proportion_test(90, 1000, 120, 1000)
    assert test.p_value == pytest.approx(0.02865, abs=1e-5)
    assert test.difference == pytest.approx(0.03)
    assert test.z == pytest.approx(2.18827, abs=1e-4)


def test_two_proportion_test_undefined_statistic_gives_p_value_one() -> None:
    assert two_proportion_test(0, 100, 0, 100).p_value == 1.0
    empty = two_proportion_test(0, 0, 5, 10)
    assert empty.p_value == 1.0
    assert math.isnan(empty.before_rate)
    assert empty.verdict == "too few"


def test_two_proportion_test_rejects_impossible_counts_and_alpha() -> None:
    with pytest.raises(ParameterError, match="on the 'after' side, got 11 out of 10"):
        two_proportion_test(1, 10, 11, 10)
    with pytest.raises(ParameterError, match="alpha: must be between 0 and 1"):
        two_proportion_test(1, 10, 1, 10, alpha=5)
    with pytest.raises(ParameterError, match="alpha: must be between 0 and 1"):
        verdict_expr("a", "b", "c", "d", alpha=0)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 3000),
    st.integers(0, 3000),
    st.integers(0, 3000),
    st.integers(0, 3000),
)
def test_expressions_match_the_scalar_test(a: int, b: int, c: int, d: int) -> None:
    s1, n1 = min(a, b), max(a, b)
    s2, n2 = min(c, d), max(c, d)
    expected = two_proportion_test(s1, n1, s2, n2)
    row = pl.DataFrame({"s1": [s1], "n1": [n1], "s2": [s2], "n2": [n2]}).select(
        p=two_proportion_p_value("s1", "n1", "s2", "n2"),
        verdict=verdict_expr("s1", "n1", "s2", "n2"),
        too_few=too_few_expr("s1", "n1") | too_few_expr("s2", "n2"),
    )
    assert row["p"].item() == pytest.approx(expected.p_value, rel=1e-6, abs=1e-12)
    if abs(expected.p_value - 0.05) > 1e-5:
        assert row["verdict"].item() == expected.verdict
    assert row["too_few"].item() == (expected.verdict == "too few")


def test_verdict_expression_is_null_on_null_counts() -> None:
    df = pl.DataFrame(
        {"s1": [None], "n1": [10], "s2": [1], "n2": [10]}, schema_overrides={"s1": pl.Int64}
    )
    out = df.select(
        p=two_proportion_p_value("s1", "n1", "s2", "n2"), v=verdict_expr("s1", "n1", "s2", "n2")
    )
    assert out.row(0) == (None, None)


def test_docstring_examples_run() -> None:
    import doctest

    import funnelkit.stats

    assert doctest.testmod(funnelkit.stats).failed == 0


# --- 2×2 tables: Fisher's exact test, odds ratios, Benjamini–Hochberg ----------------------
def _slow_fisher(a: int, b: int, c: int, d: int) -> float:
    """Fisher's two-sided p-value by enumerating the hypergeometric tables with exact integers."""
    row1, col1, n = a + b, a + c, a + b + c + d
    total = math.comb(n, col1)
    tables = [
        math.comb(row1, x) * math.comb(n - row1, col1 - x)
        for x in range(max(0, col1 - (n - row1)), min(row1, col1) + 1)
    ]
    observed = math.comb(row1, a) * math.comb(n - row1, col1 - a)
    # the same relative tolerance for ties as fisher_exact, in exact arithmetic
    return min(1.0, sum(w for w in tables if w * 10**7 <= observed * (10**7 + 1)) / total)


cells = st.integers(min_value=0, max_value=40)


@settings(max_examples=300, deadline=None)
@given(cells, cells, cells, cells)
def test_fisher_exact_matches_the_enumeration_of_tables(a: int, b: int, c: int, d: int) -> None:
    assert math.isclose(fisher_exact(a, b, c, d), _slow_fisher(a, b, c, d), rel_tol=1e-9)


@pytest.mark.parametrize(
    ("table", "p_value"),
    [
        ((8, 2, 1, 5), 0.03496503),  # R: fisher.test(matrix(c(8,1,2,5), 2))
        ((3, 1, 1, 3), 0.48571429),  # the tea-tasting lady
        ((10, 0, 0, 10), 1.0825088e-05),
        ((0, 0, 0, 0), 1.0),
    ],
)
def test_fisher_exact_known_values(table: tuple[int, int, int, int], p_value: float) -> None:
    assert math.isclose(fisher_exact(*table), p_value, rel_tol=1e-6)


def test_fisher_exact_on_large_counts_neither_overflows_nor_underflows_to_nonsense() -> None:
    p = fisher_exact(5000, 5000, 5100, 4900)
    assert 0.0 < p < 1.0
    assert fisher_exact(9000, 1000, 1000, 9000) == pytest.approx(0.0, abs=1e-300)


@settings(max_examples=200, deadline=None)
@given(cells, cells, cells, cells)
def test_odds_ratio_brackets_its_estimate_and_corrects_zero_cells(
    a: int, b: int, c: int, d: int
) -> None:
    ratio, low, high, corrected = odds_ratio(a, b, c, d)
    assert corrected == (0 in (a, b, c, d))
    shift = 0.5 if corrected else 0.0
    expected = ((a + shift) * (d + shift)) / ((b + shift) * (c + shift))
    assert math.isclose(ratio, expected, rel_tol=1e-9)
    assert 0.0 < low <= ratio <= high < math.inf
    se = math.sqrt(sum(1 / (x + shift) for x in (a, b, c, d)))
    assert math.isclose(math.log(high / ratio), 1.959963984540054 * se, rel_tol=1e-9)


def test_odds_ratio_woolf_interval_known_values() -> None:
    ratio, low, high, corrected = odds_ratio(20, 10, 10, 20)
    assert (round(ratio, 6), round(low, 3), round(high, 3), corrected) == (
        4.0,
        1.367,
        11.703,
        False,
    )


@settings(max_examples=200, deadline=None)
@given(cells, cells, cells, cells)
def test_odds_ratio_test_uses_fisher_exactly_when_an_expected_cell_is_small(
    a: int, b: int, c: int, d: int
) -> None:
    n = a + b + c + d
    expected = [(r * k) / n for r in (a + b, c + d) for k in (a + c, b + d)] if n else [0.0]
    test = odds_ratio_test(a, b, c, d)
    if min(expected) < MIN_EXPECTED:
        assert test.test == "fisher"
        assert test.p_value == fisher_exact(a, b, c, d)
    else:
        assert test.test == "chi2"
        assert test.p_value == two_proportion_test(c, c + d, a, a + b).p_value
    assert 0.0 <= test.p_value <= 1.0


def test_odds_ratio_helpers_refuse_negative_counts() -> None:
    with pytest.raises(ParameterError, match=r"fisher_exact needs four counts >= 0"):
        fisher_exact(1, -1, 2, 3)
    with pytest.raises(ParameterError, match=r"odds_ratio needs four counts >= 0"):
        odds_ratio_test(-1, 1, 2, 3)


def _slow_bh(p_values: list[float]) -> list[float]:
    """The step-up rule as written: q_i = min over p_j >= p_i of p_j * m / rank_j."""
    m = len(p_values)
    ranked = sorted(p_values)
    out = []
    for p in p_values:
        candidates = [ranked[j] * m / (j + 1) for j in range(m) if ranked[j] >= p]
        out.append(min(1.0, min(candidates)))
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=30))
def test_benjamini_hochberg_matches_the_step_up_rule(p_values: list[float]) -> None:
    q = benjamini_hochberg(p_values)
    assert len(q) == len(p_values)
    for got, want, p in zip(q, _slow_bh(p_values), p_values, strict=True):
        assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-300)
        assert p <= got + 1e-15 or got == 1.0


def test_benjamini_hochberg_refuses_a_p_value_outside_the_unit_interval() -> None:
    with pytest.raises(ParameterError, match=r"within \[0, 1\], got 1.5"):
        benjamini_hochberg([0.1, 1.5])
    with pytest.raises(ParameterError, match=r"got nan"):
        benjamini_hochberg([math.nan])
