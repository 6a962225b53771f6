"""Fair probability that a KXSOL15M market pays YES.

The contract pays $1 iff the simple average ``A`` of the 60 one-second index prints
in ``[close − 60 s, close)`` is at least ``K = floor_strike``; ties pay YES. We model the index as
a driftless geometric Brownian motion in log space, ``ln S_t = ln S_0 + σ W_t`` with σ per √second,
and price ``P(A ≥ K)``.

**Print times.** The settlement prints are taken at ``close − 60, close − 59, …, close − 1`` (s).
When ``n`` of them have already been observed (running sum ``Σobs``), the ``m = 60 − n`` remaining
prints are the last ``m`` of these, the first one ``d`` seconds after the current print.

**The remaining part exactly (discrete).** With ``Y = (1/m) Σⱼ σ(W(uⱼ) − W(0))``, ``uⱼ = d + j``
(``j = 0…m−1``), ``Y`` is Gaussian with mean 0 and

    Var Y = σ² · (d + (m − 1)(2m − 1) / (6m)),

because ``Σⱼ Σₖ min(uⱼ, uₖ) = d·m² + m(m − 1)(2m − 1)/6``. For ``m = 60`` and many prints this is the
continuous ``σ²(T − A − t) + σ²A/3`` of the brief; before the window ``d = τ − 60``.

**Log-space approximation (documented choice).** The remaining arithmetic sum ``Σ S(uⱼ)`` is
replaced by ``m·S·e^Y`` (the geometric mean). The arithmetic mean exceeds the geometric one by
about ``½·Var`` of the log-prices across the window — for SOL over 60 s that is ~1e-6 relative,
three orders of magnitude below a price tick, so the error is negligible. With ``R = 60K − Σobs``
the amount the remaining prints must still sum to:

    P(YES) = N( ln(m·S / R) / sd(Y) ),   and P = 1 if R ≤ 0 (prices are positive).

Zero log-drift (as in the textbook digital ``N(ln(S/K)/(σ√τ))``): the −σ²τ/2 Itô term a martingale
price would have is ignored. At SOL's σ (0.0007/√min) it is 4e-6 of log-price over a whole window, a
shift of the z-score by σ√τ/2 ≈ 0.0014, so of P by at most 0.0005 (at the money, 15 minutes out), less
nearer the close. Limits: σ = 0, or no print left to come (``m = 0``, or ``m = 1`` at its own time),
gives the deterministic answer (``m·S ≥ R`` → 1 else 0; ties pay YES, and a shortfall within the rounding
of the running sum, :data:`TIE_TOLERANCE`, is a tie). The normal CDF is ``math.erfc``
based: importing scipy.stats would add its import time to every start (docs/performance.md,
``bench_startup.py``). Results are clamped to ``[0, 1]``; bad inputs raise :class:`PricingError`.
"""

from __future__ import annotations

import math

AVERAGING_PRINTS = 60
PRINT_SPACING_SECONDS = 1.0
AVERAGING_SECONDS = AVERAGING_PRINTS * PRINT_SPACING_SECONDS
TIE_TOLERANCE = 1e-12
"""A relative shortfall of the average below the strike this small is a tie (ties pay YES): the running
sum of 60 prints rounds by a few ulps (1e-14 relative), the index has far fewer digits than 1e-12."""


class PricingError(ValueError):
    """The inputs to a pricing function are not a possible market state."""


def normal_cdf(x: float) -> float:
    """Φ(x), accurate in both tails (``erfc`` avoids cancellation for very negative x)."""
    return 0.5 * math.erfc(-x / _SQRT2)


_SQRT2 = math.sqrt(2.0)


def digital_probability(spot: float, strike: float, sigma_per_sqrt_second: float,
                        tau_seconds: float) -> float:
    """The textbook zero-drift digital ``P(S_T ≥ K) = N(ln(S/K)/(σ√τ))``: settlement on one print."""
    _check_positive("spot", spot)
    _check_positive("strike", strike)
    _check_non_negative("sigma_per_sqrt_second", sigma_per_sqrt_second)
    _check_non_negative("tau_seconds", tau_seconds)
    sd = sigma_per_sqrt_second * math.sqrt(tau_seconds)
    return _probability(math.log(spot / strike), sd)


def remaining_average_log_variance(sigma_per_sqrt_second: float, first_print_delay: float,
                                   remaining: int) -> float:
    """``Var Y`` for the log-average of ``remaining`` unit-spaced prints, the first one
    ``first_print_delay`` seconds ahead."""
    if remaining <= 0:
        return 0.0
    return sigma_per_sqrt_second ** 2 * (max(first_print_delay, 0.0) + _span(remaining))


def _span(m: int) -> float:
    """The part of ``Var Y / σ²`` that the spacing of ``m`` remaining prints adds."""
    return (m - 1) * (2 * m - 1) / (6.0 * m) * PRINT_SPACING_SECONDS


_SPANS = [0.0] + [_span(m) for m in range(1, AVERAGING_PRINTS + 1)]  # by remaining count
_INF = math.inf


def fair_yes_probability(
    spot: float,
    strike: float,
    sigma_per_sqrt_second: float,
    seconds_to_close: float,
    *,
    observed_sum: float = 0.0,
    observed_count: int = 0,
) -> float:
    """P(YES) for a KXSOL15M market.

    ``spot`` is the latest index print and ``seconds_to_close`` is measured *from that print's
    timestamp* (so a delayed print does not pretend to be fresher). ``observed_sum`` /
    ``observed_count`` are the running sum and count of the prints already observed in the closing
    window ``[close − 60 s, close)``; both must be zero while ``seconds_to_close > 60``.

    If the feed missed prints, ``observed_count`` lags the elapsed time; the remaining prints are then
    assumed to start at once (``d`` clamped at 0), which slightly overstates their variance.
    """
    # The checks below in their cheapest exact form (this runs on every strategy evaluation): a float in
    # (0, inf) is a finite positive one, NaN fails every comparison; the named checks raise the message.
    if not (0.0 < spot < _INF and 0.0 < strike < _INF and 0.0 <= sigma_per_sqrt_second < _INF
            and 0.0 <= seconds_to_close < _INF):
        _check_positive("spot", spot)
        _check_positive("strike", strike)
        _check_non_negative("sigma_per_sqrt_second", sigma_per_sqrt_second)
        _check_non_negative("seconds_to_close", seconds_to_close)
    if type(observed_count) is not int and (isinstance(observed_count, bool) or not isinstance(observed_count, int)):
        raise PricingError(f"observed_count must be an int, got {observed_count!r}")
    if not 0 <= observed_count <= AVERAGING_PRINTS:
        raise PricingError(f"observed_count must be in [0, {AVERAGING_PRINTS}], got {observed_count}")
    if not 0.0 <= observed_sum < _INF:
        raise PricingError(f"observed_sum must be finite and >= 0, got {observed_sum!r}")
    if observed_count == 0:
        if observed_sum != 0:
            raise PricingError(f"observed_sum is {observed_sum!r} but observed_count is 0")
    elif seconds_to_close > AVERAGING_SECONDS:
        raise PricingError(
            f"{observed_count} closing-window prints observed but the window starts in "
            f"{seconds_to_close - AVERAGING_SECONDS:.3f} s")
    required_remaining = AVERAGING_PRINTS * strike - observed_sum
    remaining = AVERAGING_PRINTS - observed_count
    if remaining == 0:  # the average is known: a tie, to the rounding of its sum, pays YES
        return 1.0 if required_remaining <= AVERAGING_PRINTS * strike * TIE_TOLERANCE else 0.0
    if required_remaining <= 0:
        return 1.0
    # remaining_average_log_variance, inlined
    first_print_delay = seconds_to_close - remaining * PRINT_SPACING_SECONDS
    delay = 0.0 if first_print_delay < 0.0 else first_print_delay  # max(first_print_delay, 0.0)
    variance = sigma_per_sqrt_second ** 2 * (delay + _SPANS[remaining])
    return _probability(math.log(remaining * spot / required_remaining), math.sqrt(variance))


def _probability(log_moneyness: float, sd: float) -> float:
    # sd == 0 (or so small that the ratio overflows) is the deterministic limit; ties (to rounding) pay YES.
    if sd <= 0.0 or not -_INF < (z := log_moneyness / sd) < _INF:
        return 1.0 if log_moneyness >= -TIE_TOLERANCE else 0.0
    p = 0.5 * math.erfc(-z / _SQRT2)  # normal_cdf(z), inlined, then clamped to [0, 1]
    if not p > 0.0:
        return 0.0
    return 1.0 if p > 1.0 else p


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise PricingError(f"{name} must be finite and > 0, got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise PricingError(f"{name} must be finite and >= 0, got {value!r}")
