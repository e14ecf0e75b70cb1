"""The statistics of the pilot's evidence: bootstrap intervals of the median reduction and the
difference in differences between pilot and comparison offices.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.analytics.scope import percentile


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {
            "estimate": round(self.estimate, 4),
            "ci_low": round(self.low, 4),
            "ci_high": round(self.high, 4),
        }


def _resample(rng: random.Random, values: Sequence[float]) -> list[float]:
    return rng.choices(values, k=len(values))


def median_reduction(
    baseline: Sequence[float], digital: Sequence[float], resamples: int = 1000, seed: int = 1
) -> Interval:
    """1 - median(digital)/median(baseline) with a percentile bootstrap 95 % interval."""
    if not baseline or not digital:
        raise ValueError("both samples must be non-empty")

    def reduction(b: Sequence[float], d: Sequence[float]) -> float:
        mb = statistics.median(b)
        return 1 - statistics.median(d) / mb if mb > 0 else 0.0

    rng = random.Random(seed)  # noqa: S311 (bootstrap resampling, reproducible on purpose)
    boots = [reduction(_resample(rng, baseline), _resample(rng, digital)) for _ in range(resamples)]
    return Interval(
        reduction(baseline, digital), percentile(boots, 0.025), percentile(boots, 0.975)
    )


@dataclass(frozen=True)
class Case:
    """One processed case for the difference in differences."""

    office: str
    pilot: bool
    after: bool
    hours: float


def difference_in_differences(
    cases: Sequence[Case], resamples: int = 1000, seed: int = 1
) -> dict[str, Any]:
    """The pilot's effect on log durations, net of what changed in every office.

    Returns the time saved as a fraction (1 - exp(DiD)) with a bootstrap interval (cases
    resampled within each of the four groups), the naive before/after change in the pilot
    offices for comparison, and the group sizes.
    """
    groups: dict[tuple[bool, bool], list[float]] = defaultdict(list)
    for c in cases:
        groups[(c.pilot, c.after)].append(math.log(max(c.hours, 1e-3)))
    sizes = {
        f"{'pilot' if p else 'others'}_{'after' if a else 'before'}": len(v)
        for (p, a), v in groups.items()
    }
    missing = [
        k for k in ((True, False), (True, True), (False, False), (False, True)) if not groups[k]
    ]
    if missing:
        raise ValueError(f"a group has no cases: {missing}")

    def estimate(g: Mapping[tuple[bool, bool], Sequence[float]]) -> tuple[float, float]:
        m = {k: statistics.fmean(v) for k, v in g.items()}
        pilot_change = m[(True, True)] - m[(True, False)]
        did = pilot_change - (m[(False, True)] - m[(False, False)])
        return 1 - math.exp(did), 1 - math.exp(pilot_change)

    effect, naive = estimate(groups)
    rng = random.Random(seed)  # noqa: S311 (bootstrap resampling, reproducible on purpose)
    # national volumes: resample at most REPORT_BOOTSTRAP_CASES per group (a wider interval,
    # never a narrower one); the estimate above uses every case
    sampled = {k: _capped(v, seed) for k, v in groups.items()}
    boots = [
        estimate({k: _resample(rng, v) for k, v in sampled.items()})[0] for _ in range(resamples)
    ]
    return {
        "time_saved": Interval(
            effect, percentile(boots, 0.025), percentile(boots, 0.975)
        ).to_dict(),
        "naive_before_after": round(naive, 4),
        "cases": sizes,
    }


#: Bootstrap intervals of the monthly report resample at most this many cases per side (the
#: point estimate uses them all): enough for a stable 95 % interval, fast at national volumes.
REPORT_BOOTSTRAP_CASES = 2000


def _capped(values: list[float], seed: int) -> list[float]:
    if len(values) <= REPORT_BOOTSTRAP_CASES:
        return values
    return random.Random(seed).sample(values, REPORT_BOOTSTRAP_CASES)  # noqa: S311
