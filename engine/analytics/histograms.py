"""Log-bucketed duration histograms (the rollup's storage form), their merging and percentiles,
and the months a scope covers in the rollup.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from engine.analytics.scope import Scope

#: Durations are counted in buckets [r^b, r^(b+1)) seconds and read back as r^(b+0.5), so a
#: percentile read from a histogram is within sqrt(1.04) - 1 < 2 % of the exact order
#: statistics it interpolates; durations under a second count as 0 (bucket -1).
BUCKET_RATIO = 1.04


_LOG_RATIO = math.log(BUCKET_RATIO)


#: Tasks completed in the last minutes may still be committing; the rollup stops short of now.
ROLLUP_MARGIN = timedelta(minutes=5)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_of(seconds: float) -> int:
    return int(math.log(seconds) / _LOG_RATIO) if seconds >= 1.0 else -1


def bucket_value(bucket: int) -> float:
    return float(BUCKET_RATIO ** (bucket + 0.5)) if bucket >= 0 else 0.0


def flat_percentiles(flat: Sequence[int], qs: Sequence[float]) -> list[float]:
    """The linear-interpolated percentiles (as ``percentile``) of the values a histogram holds
    (``[bucket, count, bucket, count, ...]`` by increasing bucket), each value read as its
    bucket's middle (seconds)."""
    cumulative = list(accumulate(flat[1::2]))
    n = cumulative[-1] if cumulative else 0
    if n == 0:
        return [0.0 for _ in qs]
    out = []
    for q in qs:
        pos = q * (n - 1)
        rank = math.floor(pos)
        # the value of rank r (from 0) is in the first bucket holding more than r values
        below = bucket_value(flat[2 * bisect_right(cumulative, rank)])
        above = bucket_value(flat[2 * bisect_right(cumulative, min(rank + 1, n - 1))])
        out.append(below + (above - below) * (pos - rank))
    return out


def _merged(flats: list[list[int]], hours: Sequence[float]) -> list[int]:
    """One flat histogram from the rollup rows' and the raw tail's durations."""
    if len(flats) == 1:
        if not hours:
            return flats[0]
        # the usual case: one all-time row and a few steps completed since the refresh
        flat = list(flats[0])
        buckets = flat[0::2]
        for h in hours:
            b = bucket_of(h * 3600)
            i = bisect_left(buckets, b)
            if i < len(buckets) and buckets[i] == b:
                flat[2 * i + 1] += 1
            else:
                buckets.insert(i, b)
                flat[2 * i : 2 * i] = [b, 1]
        return flat
    hist: dict[int, int] = {}
    for flat in flats:
        _merge_flat(hist, flat)
    for h in hours:
        b = bucket_of(h * 3600)
        hist[b] = hist.get(b, 0) + 1
    return _flat(hist)


def _merge_flat(hist: dict[int, int], flat: Sequence[int]) -> None:
    for i in range(0, len(flat), 2):
        b = flat[i]
        hist[b] = hist.get(b, 0) + flat[i + 1]


def _flat(hist: Mapping[int, int]) -> list[int]:
    return [v for b in sorted(hist) for v in (b, hist[b])]


def rollup_periods(scope: Scope) -> list[str] | None:
    """The rollup periods that answer ``scope`` exactly: all time, or whole months."""
    if scope.since is None and scope.until is None:
        return ["all"]
    if scope.since is None or scope.until is None or scope.since.day != 1:
        return None
    if (scope.until + timedelta(days=1)).day != 1 or scope.until < scope.since:
        return None
    periods = []
    year, month = scope.since.year, scope.since.month
    while (year, month) <= (scope.until.year, scope.until.month):
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return periods
