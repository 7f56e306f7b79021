"""Honest uncertainty for conversion rates: Wilson intervals and two-proportion tests.

Every rate funnelkit shows carries a Wilson score interval, which behaves well
near 0 and 1 and on small samples (unlike the textbook ``p ± z·se``).  Changes
between two periods are judged with a pooled two-proportion z-test, and no
verdict is given on samples too small for the normal approximation.

Each function comes twice: a scalar version for one rate (plain floats, the
standard library only) and a vectorised version that returns a polars
expression, so a table of rates gets its intervals in the same query.

Examples
--------
>>> low, high = wilson_interval(7, 50)
>>> round(low, 4), round(high, 4)
(0.0695, 0.2619)
>>> test = two_proportion_test(90, 1000, 120, 1000)
>>> test.verdict, round(test.p_value, 4)
('increase', 0.0287)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import polars as pl

from funnelkit.errors import ParameterError

__all__ = [
    "LEAK_BASE",
    "MIN_EXPECTED",
    "MIN_PER_OUTCOME",
    "MIN_TRIALS",
    "OddsRatio",
    "TwoProportionTest",
    "Verdict",
    "benjamini_hochberg",
    "biggest_leak",
    "check_alpha",
    "erfc_expr",
    "fisher_exact",
    "odds_ratio",
    "odds_ratio_test",
    "too_few_expr",
    "two_proportion_p_value",
    "two_proportion_test",
    "verdict_expr",
    "wilson_high",
    "wilson_interval",
    "wilson_low",
]

Verdict = Literal["increase", "decrease", "within noise", "too few"]


def check_alpha(alpha: float) -> None:
    """Refuse a significance level outside (0, 1), saying what to give instead.

    Every function taking ``alpha`` calls it first, so the message is the same
    everywhere.

    Parameters
    ----------
    alpha
        The significance level, such as 0.05.

    Raises
    ------
    ParameterError
        When ``alpha`` is not strictly between 0 and 1.

    Examples
    --------
    >>> check_alpha(0.05)

    See the concept page: docs/concepts/uncertainty.md
    """
    if not 0.0 < alpha < 1.0:
        msg = f"alpha: must be between 0 and 1 (exclusive), got {alpha!r}; e.g. 0.05"
        raise ParameterError(msg)


#: A side of a comparison with fewer trials than this gets no verdict.
MIN_TRIALS = 30
#: A side with fewer successes, or fewer failures, than this gets no verdict.
MIN_PER_OUTCOME = 5

IntoExpr = pl.Expr | str


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        msg = f"confidence: must be between 0 and 1 (exclusive), got {confidence!r}; e.g. 0.95"
        raise ParameterError(msg)
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _col(value: IntoExpr) -> pl.Expr:
    return pl.col(value) if isinstance(value, str) else value


def wilson_interval(
    successes: int, trials: int, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Return the Wilson score interval ``(low, high)`` of ``successes / trials``.

    Unlike the textbook ``p ± z·se``, it behaves well near 0 and 1 and on
    small samples; every rate funnelkit shows carries it.

    Parameters
    ----------
    successes
        Number of contacts that converted (``0 <= successes <= trials``).
    trials
        Number of contacts that could convert.  With no trials every rate is
        possible and the interval is ``(0.0, 1.0)``.
    confidence
        Coverage of the interval, 0.95 by default.

    Returns
    -------
    tuple of float
        Lower and upper bound, both within ``[0, 1]``.

    Raises
    ------
    ParameterError
        When the counts are negative or ``successes > trials``, or when
        ``confidence`` is not between 0 and 1.

    Examples
    --------
    >>> [round(x, 4) for x in wilson_interval(842, 8000)]
    [0.0987, 0.1122]
    >>> [round(x, 4) for x in wilson_interval(0, 10)]
    [0.0, 0.2775]

    See the concept page: docs/concepts/uncertainty.md
    """
    if trials < 0 or successes < 0 or successes > trials:
        msg = (
            f"wilson_interval needs 0 <= successes <= trials, got {successes} successes "
            f"out of {trials} trials"
        )
        raise ParameterError(msg)
    z = _z(confidence)
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    z2 = z * z
    denominator = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return (low, high)


def _wilson_bound(successes: IntoExpr, trials: IntoExpr, confidence: float, sign: float) -> pl.Expr:
    z = _z(confidence)
    z2 = z * z
    s = _col(successes).cast(pl.Float64)
    n = _col(trials).cast(pl.Float64)
    p = s / n
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * (p * (1 - p) / n + z2 / (4 * n * n)).sqrt() / denominator
    bound = (centre + sign * half).clip(0.0, 1.0)
    exact = (s == 0) if sign < 0 else (s == n)  # the bound is exactly 0 (or 1) there
    return (
        pl.when(n.is_null() | s.is_null())
        .then(None)
        .when((n == 0) | exact)
        .then(pl.lit(0.0 if sign < 0 else 1.0))
        .otherwise(bound)
        .alias("ci_low" if sign < 0 else "ci_high")
    )


def wilson_low(successes: IntoExpr, trials: IntoExpr, *, confidence: float = 0.95) -> pl.Expr:
    """Return an expression for the lower Wilson bound of ``successes / trials``.

    Rows with no trials get 0.0 (the interval is the whole ``[0, 1]``), rows
    with a null count get null.  The expression is named ``ci_low``.

    Parameters
    ----------
    successes, trials
        Column names or expressions of the counts.
    confidence
        Coverage of the interval, 0.95 by default.

    Returns
    -------
    polars.Expr
        The lower bound, within ``[0, 1]``.

    Raises
    ------
    ParameterError
        When ``confidence`` is not between 0 and 1.

    Examples
    --------
    >>> df = pl.DataFrame({"won": [7, 0], "tried": [50, 10]})
    >>> df.select(wilson_low("won", "tried").round(4)).to_series().to_list()
    [0.0695, 0.0]

    See the concept page: docs/concepts/uncertainty.md
    """
    return _wilson_bound(successes, trials, confidence, -1.0)


def wilson_high(successes: IntoExpr, trials: IntoExpr, *, confidence: float = 0.95) -> pl.Expr:
    """Return an expression for the upper Wilson bound of ``successes / trials``.

    The twin of :func:`wilson_low`, with the same rules for rows without
    trials or with a null count.  The expression is named ``ci_high``.

    Parameters
    ----------
    successes, trials
        Column names or expressions of the counts.
    confidence
        Coverage of the interval, 0.95 by default.

    Returns
    -------
    polars.Expr
        The upper bound, within ``[0, 1]``.

    Raises
    ------
    ParameterError
        When ``confidence`` is not between 0 and 1.

    Examples
    --------
    >>> df = pl.DataFrame({"won": [7, 0], "tried": [50, 10]})
    >>> df.select(wilson_high("won", "tried").round(4)).to_series().to_list()
    [0.2619, 0.2775]

    See the concept page: docs/concepts/uncertainty.md
    """
    return _wilson_bound(successes, trials, confidence, 1.0)


# --- two proportions ---------------------------------------------------------
@dataclass(frozen=True)
class TwoProportionTest:
    """Outcome of :func:`two_proportion_test` (``after`` compared with ``before``).

    Attributes
    ----------
    before_rate, after_rate
        The two observed rates (``nan`` when a side has no trials).
    difference
        ``after_rate - before_rate``.
    z
        The pooled z statistic (0.0 when it is undefined).
    p_value
        Two-sided p-value (1.0 when the statistic is undefined).
    verdict
        ``"increase"`` or ``"decrease"`` when ``p_value < alpha``,
        ``"within noise"`` otherwise, and ``"too few"`` when either side has
        fewer than :data:`MIN_TRIALS` trials or fewer than
        :data:`MIN_PER_OUTCOME` successes or failures.
    """

    before_rate: float
    after_rate: float
    difference: float
    z: float
    p_value: float
    verdict: Verdict


def _too_few(successes: int, trials: int) -> bool:
    return (
        trials < MIN_TRIALS or successes < MIN_PER_OUTCOME or trials - successes < MIN_PER_OUTCOME
    )


def two_proportion_test(
    before_successes: int,
    before_trials: int,
    after_successes: int,
    after_trials: int,
    *,
    alpha: float = 0.05,
) -> TwoProportionTest:
    """Compare two rates with a pooled two-proportion z-test (two-sided).

    No verdict is given (``"too few"``) when a side is too small for the normal
    approximation; otherwise the change is an increase, a decrease or within
    the noise at level ``alpha``.

    Parameters
    ----------
    before_successes, before_trials
        Counts of the earlier (reference) period.
    after_successes, after_trials
        Counts of the later period.
    alpha
        Significance level for the verdict.

    Returns
    -------
    TwoProportionTest

    Raises
    ------
    ParameterError
        When a count is negative or has more successes than trials, or when
        ``alpha`` is not between 0 and 1.

    Examples
    --------
    >>> two_proportion_test(10, 20, 15, 20).verdict
    'too few'
    >>> t = two_proportion_test(300, 1000, 310, 1000)
    >>> t.verdict, round(t.difference, 3)
    ('within noise', 0.01)

    See the concept page: docs/concepts/uncertainty.md
    """
    for s, n, side in (
        (before_successes, before_trials, "before"),
        (after_successes, after_trials, "after"),
    ):
        if n < 0 or s < 0 or s > n:
            msg = (
                f"two_proportion_test needs 0 <= successes <= trials on the {side!r} side, "
                f"got {s} out of {n}"
            )
            raise ParameterError(msg)
    check_alpha(alpha)
    p1 = before_successes / before_trials if before_trials else math.nan
    p2 = after_successes / after_trials if after_trials else math.nan
    z = 0.0
    p_value = 1.0
    if before_trials and after_trials:
        pooled = (before_successes + after_successes) / (before_trials + after_trials)
        se = math.sqrt(pooled * (1 - pooled) * (1 / before_trials + 1 / after_trials))
        if se > 0:
            z = (p2 - p1) / se
            p_value = math.erfc(abs(z) / math.sqrt(2.0))
    verdict: Verdict
    if _too_few(before_successes, before_trials) or _too_few(after_successes, after_trials):
        verdict = "too few"
    elif p_value < alpha:
        verdict = "increase" if p2 > p1 else "decrease"
    else:
        verdict = "within noise"
    return TwoProportionTest(
        before_rate=p1,
        after_rate=p2,
        difference=p2 - p1,
        z=z,
        p_value=p_value,
        verdict=verdict,
    )


_ERFC_COEFFICIENTS = (
    -1.26551223,
    1.00002368,
    0.37409196,
    0.09678418,
    -0.18628806,
    0.27886807,
    -1.13520398,
    1.48851587,
    -0.82215223,
    0.17087277,
)


def _erfc_series(x: pl.Series) -> pl.Series:
    ax = x.cast(pl.Float64).abs()
    t = 1.0 / (1.0 + 0.5 * ax)
    poly = pl.Series(x.name, [_ERFC_COEFFICIENTS[-1]] * len(x), dtype=pl.Float64)
    for c in reversed(_ERFC_COEFFICIENTS[:-1]):
        poly = c + t * poly
    value = t * (-ax * ax + poly).exp()
    return value.zip_with(x.cast(pl.Float64) >= 0, 2.0 - value)


def erfc_expr(x: pl.Expr) -> pl.Expr:
    """Return the complementary error function of ``x`` as a polars expression.

    Chebyshev fit from *Numerical Recipes* (``erfcc``), relative error below
    1.2e-7 everywhere; enough for p-values, and free of extra dependencies.
    Evaluated on whole columns at once (``x`` is computed once).

    Parameters
    ----------
    x
        A float expression.

    Returns
    -------
    polars.Expr
        ``erfc(x)``, row by row.

    Examples
    --------
    >>> import math
    >>> v = pl.select(erfc_expr(pl.lit(1.0))).item()
    >>> abs(v - math.erfc(1.0)) < 1e-7
    True

    See the concept page: docs/concepts/uncertainty.md
    """
    return x.map_batches(_erfc_series, return_dtype=pl.Float64).alias("erfc")


def two_proportion_p_value(
    before_successes: IntoExpr,
    before_trials: IntoExpr,
    after_successes: IntoExpr,
    after_trials: IntoExpr,
) -> pl.Expr:
    """Return an expression for the two-sided p-value of a pooled two-proportion z-test.

    Rows where the statistic is undefined (a side without trials, or both
    rates 0 or both 1) get 1.0; rows with a null count get null.  Same
    figures as :func:`two_proportion_test` within 1e-6.

    Parameters
    ----------
    before_successes, before_trials
        Column names or expressions of the earlier period's counts.
    after_successes, after_trials
        Those of the later period.

    Returns
    -------
    polars.Expr
        The p-value, row by row.

    Examples
    --------
    >>> df = pl.DataFrame({"s1": [120], "n1": [1000], "s2": [90], "n2": [1000]})
    >>> df.select(two_proportion_p_value("s2", "n2", "s1", "n1").round(4)).item()
    0.0287

    See the concept page: docs/concepts/uncertainty.md
    """
    s1 = _col(before_successes).cast(pl.Float64)
    n1 = _col(before_trials).cast(pl.Float64)
    s2 = _col(after_successes).cast(pl.Float64)
    n2 = _col(after_trials).cast(pl.Float64)
    pooled = (s1 + s2) / (n1 + n2)
    se = (pooled * (1 - pooled) * (1 / n1 + 1 / n2)).sqrt()
    z = (s2 / n2 - s1 / n1) / se
    any_null = pl.any_horizontal(s1.is_null(), n1.is_null(), s2.is_null(), n2.is_null())
    return (
        pl.when(any_null)
        .then(None)
        .when((n1 == 0) | (n2 == 0) | (se == 0))
        .then(pl.lit(1.0))
        .otherwise(erfc_expr(z.abs() / math.sqrt(2.0)))
        .alias("p_value")
    )


def too_few_expr(successes: IntoExpr, trials: IntoExpr) -> pl.Expr:
    """Return whether one side is too small for a verdict.

    True when the side has fewer than :data:`MIN_TRIALS` trials, or fewer than
    :data:`MIN_PER_OUTCOME` successes or failures.

    Parameters
    ----------
    successes, trials
        Column names or expressions of the counts.

    Returns
    -------
    polars.Expr
        A boolean expression.

    Examples
    --------
    >>> df = pl.DataFrame({"s": [3, 40], "n": [100, 100]})
    >>> df.select(too_few_expr("s", "n")).to_series().to_list()
    [True, False]

    See the concept page: docs/concepts/uncertainty.md
    """
    s = _col(successes)
    n = _col(trials)
    too_few = (n < MIN_TRIALS) | (s < MIN_PER_OUTCOME) | ((n - s) < MIN_PER_OUTCOME)
    return too_few.alias("too_few")


def verdict_expr(
    before_successes: IntoExpr,
    before_trials: IntoExpr,
    after_successes: IntoExpr,
    after_trials: IntoExpr,
    *,
    alpha: float = 0.05,
) -> pl.Expr:
    """Return an expression with the verdict of :func:`two_proportion_test` per row.

    One of ``"increase"``, ``"decrease"``, ``"within noise"`` or
    ``"too few"``; null when a count is null.

    Parameters
    ----------
    before_successes, before_trials
        Column names or expressions of the earlier period's counts.
    after_successes, after_trials
        Those of the later period.
    alpha
        Significance level for the verdict.

    Returns
    -------
    polars.Expr
        A text expression.

    Raises
    ------
    ParameterError
        When ``alpha`` is not between 0 and 1.

    Examples
    --------
    >>> df = pl.DataFrame({"s1": [120, 3], "n1": [1000, 10], "s2": [90, 5], "n2": [1000, 10]})
    >>> df.select(verdict_expr("s1", "n1", "s2", "n2")).to_series().to_list()
    ['decrease', 'too few']

    See the concept page: docs/concepts/uncertainty.md
    """
    check_alpha(alpha)
    s1, n1, s2, n2 = (
        _col(before_successes),
        _col(before_trials),
        _col(after_successes),
        _col(after_trials),
    )
    p = two_proportion_p_value(s1, n1, s2, n2)
    rising = s2.cast(pl.Float64) / n2 > s1.cast(pl.Float64) / n1
    return (
        pl.when(p.is_null())
        .then(pl.lit(None, pl.String))
        .when(too_few_expr(s1, n1) | too_few_expr(s2, n2))
        .then(pl.lit("too few"))
        .when(p < alpha)
        .then(pl.when(rising).then(pl.lit("increase")).otherwise(pl.lit("decrease")))
        .otherwise(pl.lit("within noise"))
        .alias("verdict")
    )


# --- two-by-two tables: odds ratios, Fisher's exact test, many tests at once ----
#: A 2×2 table any of whose expected cells is below this is judged by Fisher's exact test.
MIN_EXPECTED = 5.0


def _check_table(a: int, b: int, c: int, d: int, where: str) -> None:
    if min(a, b, c, d) < 0:
        msg = f"{where} needs four counts >= 0, got ({a}, {b}, {c}, {d})"
        raise ParameterError(msg)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Return the two-sided p-value of Fisher's exact test on the table ``[[a, b], [c, d]]``.

    With the margins fixed, ``a`` follows a hypergeometric distribution; the
    p-value is the probability of every table at most as likely as the one
    observed (the usual two-sided rule, with a relative tolerance of 1e-7 for
    ties).  Probabilities come from log-gamma, so large counts neither
    overflow nor need scipy.

    Parameters
    ----------
    a, b, c, d
        The four counts (rows: with / without the signal; columns: converted /
        dropped, say).

    Returns
    -------
    float
        The p-value, within ``[0, 1]``.

    Raises
    ------
    ParameterError
        When a count is negative.

    Examples
    --------
    >>> round(fisher_exact(8, 2, 1, 5), 4)
    0.035
    >>> fisher_exact(0, 0, 0, 0)
    1.0

    See the guide: docs/guides/drivers.md
    """
    _check_table(a, b, c, d, "fisher_exact")
    row1, col1, n = a + b, a + c, a + b + c + d
    low, high = max(0, col1 - (n - row1)), min(row1, col1)
    if low == high:
        return 1.0
    base = _log_comb(n, col1)

    def log_p(x: int) -> float:
        return _log_comb(row1, x) + _log_comb(n - row1, col1 - x) - base

    observed = log_p(a)
    limit = observed + math.log1p(1e-7)
    total = math.fsum(math.exp(lp) for x in range(low, high + 1) if (lp := log_p(x)) <= limit)
    return min(1.0, total)


@dataclass(frozen=True)
class OddsRatio:
    """An odds ratio of a 2×2 table ``[[a, b], [c, d]]`` and how sure it is.

    Attributes
    ----------
    odds_ratio
        ``(a·d) / (b·c)``; with a zero cell, every cell gets +0.5 first
        (Haldane–Anscombe), so the ratio and its interval stay finite.
    ci_low, ci_high
        Woolf (logit) interval: ``exp(ln OR ± z·sqrt(1/a + 1/b + 1/c + 1/d))``.
    p_value
        Two-sided: Fisher's exact test when an expected cell is below
        :data:`MIN_EXPECTED`, else the pooled two-proportion z-test (the
        χ² test without continuity correction).
    test
        ``"fisher"`` or ``"chi2"``: which test gave :attr:`p_value`.
    corrected
        True when the Haldane–Anscombe +0.5 was added (a cell was 0).
    """

    odds_ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    test: Literal["fisher", "chi2"]
    corrected: bool


def odds_ratio(
    a: int, b: int, c: int, d: int, *, confidence: float = 0.95
) -> tuple[float, float, float, bool]:
    """Return the odds ratio of ``[[a, b], [c, d]]``, its Woolf interval and the correction flag.

    When a cell is 0, +0.5 is added to every cell (Haldane–Anscombe) and the
    flag says so.

    Parameters
    ----------
    a, b, c, d
        The four counts: converted and dropped with the signal, converted and
        dropped without it.
    confidence
        Coverage of the interval, 0.95 by default.

    Returns
    -------
    tuple
        ``(odds_ratio, ci_low, ci_high, corrected)``.

    Raises
    ------
    ParameterError
        When a count is negative or ``confidence`` is not between 0 and 1.

    Examples
    --------
    >>> [round(x, 3) for x in odds_ratio(20, 10, 10, 20)[:3]]
    [4.0, 1.367, 11.703]
    >>> odds_ratio(5, 0, 5, 5)[3]
    True

    See the guide: docs/guides/drivers.md
    """
    _check_table(a, b, c, d, "odds_ratio")
    z = _z(confidence)
    corrected = min(a, b, c, d) == 0
    fa, fb, fc, fd = (float(x) + (0.5 if corrected else 0.0) for x in (a, b, c, d))
    log_or = math.log(fa) + math.log(fd) - math.log(fb) - math.log(fc)
    se = math.sqrt(1 / fa + 1 / fb + 1 / fc + 1 / fd)
    return (
        math.exp(log_or),
        math.exp(log_or - z * se),
        math.exp(log_or + z * se),
        corrected,
    )


def odds_ratio_test(a: int, b: int, c: int, d: int, *, confidence: float = 0.95) -> OddsRatio:
    """Return the odds ratio of ``[[a, b], [c, d]]`` with its interval and p-value.

    Rows are the contacts with and without a signal, columns those who
    converted and those who did not.  Fisher's exact test is used when an
    expected cell is under 5, the χ² test otherwise.

    Parameters
    ----------
    a, b, c, d
        Converted with the signal, dropped with it, converted without it,
        dropped without it.
    confidence
        Coverage of the odds ratio's interval, 0.95 by default.

    Returns
    -------
    OddsRatio
        The ratio, its interval, the p-value and the test used.

    Raises
    ------
    ParameterError
        When a count is negative or ``confidence`` is not between 0 and 1.

    Examples
    --------
    >>> t = odds_ratio_test(8, 2, 1, 5)
    >>> t.test, round(t.p_value, 4), round(t.odds_ratio, 1)
    ('fisher', 0.035, 20.0)
    >>> odds_ratio_test(300, 700, 200, 800).test
    'chi2'

    See the guide: docs/guides/drivers.md
    """
    ratio, low, high, corrected = odds_ratio(a, b, c, d, confidence=confidence)
    n = a + b + c + d
    expected = [(r * k) / n for r in (a + b, c + d) for k in (a + c, b + d)] if n else [0.0] * 4
    if min(expected) < MIN_EXPECTED:
        return OddsRatio(ratio, low, high, fisher_exact(a, b, c, d), "fisher", corrected)
    p_value = two_proportion_test(c, c + d, a, a + b).p_value
    return OddsRatio(ratio, low, high, p_value, "chi2", corrected)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Return the Benjamini–Hochberg q-values of ``p_values``, in the same order.

    ``q_i = min over j with p_j >= p_i of p_j · m / rank(p_j)``, capped at 1:
    calling every signal with ``q < alpha`` keeps the expected share of false
    discoveries among them at most ``alpha`` (for independent or positively
    dependent tests).

    Parameters
    ----------
    p_values
        The p-values of the tests run together.

    Returns
    -------
    list of float
        One q-value per p-value, in the order given.

    Raises
    ------
    ParameterError
        When a p-value is outside ``[0, 1]`` or not a number.

    Examples
    --------
    >>> [round(q, 3) for q in benjamini_hochberg([0.01, 0.04, 0.03, 0.5])]
    [0.04, 0.053, 0.053, 0.5]
    >>> benjamini_hochberg([])
    []

    See the guide: docs/guides/drivers.md
    """
    for p in p_values:
        if not 0.0 <= p <= 1.0:
            msg = f"benjamini_hochberg needs p-values within [0, 1], got {p!r}"
            raise ParameterError(msg)
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i], reverse=True)
    q = [0.0] * m
    running = 1.0
    for position, i in enumerate(order):
        rank = m - position
        running = min(running, p_values[i] * m / rank)
        q[i] = running
    return q


#: The biggest leak is looked for among steps whose previous step has at least this
#: many contacts (:func:`biggest_leak`).
LEAK_BASE = 30


def biggest_leak(counts: Sequence[int], *, leak_base: int = LEAK_BASE) -> int | None:
    """Return the step (2..n) with the lowest conversion from the previous step.

    The one rule of the biggest leak (the funnel figure's marker, the default
    step of :func:`funnelkit.drivers.drivers` and of
    :func:`funnelkit.paths.drop_off_paths`): among the steps whose
    previous step has at least ``leak_base`` contacts (among all steps when
    none has), the first step with the lowest ``count / previous count``.

    Parameters
    ----------
    counts
        Contacts at each step, step 1 first.
    leak_base
        The fewest contacts at the previous step for a step to be a candidate.

    Returns
    -------
    int or None
        The step number, or ``None`` when no step can leak (fewer than two
        steps, or no contact).

    Examples
    --------
    >>> biggest_leak([100, 40, 30])
    2
    >>> biggest_leak([1000, 900, 800, 3, 1])
    4

    See the guide: docs/guides/drivers.md
    """
    rates = [(k + 1, counts[k] / counts[k - 1]) for k in range(1, len(counts)) if counts[k - 1] > 0]
    based = [(step, rate) for step, rate in rates if counts[step - 2] >= leak_base]
    pool = based or rates
    if not pool:
        return None
    lowest = min(rate for _, rate in pool)
    return next(step for step, rate in pool if rate == lowest)
