"""Counter samples and their differences, and quantiles from cumulative histogram buckets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

Buckets = tuple[tuple[float, float], ...]


def histogram_quantile(q: float, buckets: Buckets) -> tuple[float, bool] | None:
    """The q-quantile of cumulative (upper bound, count) buckets ending with +Inf, estimated
    as Prometheus does; None without observations. The flag is True when the rank falls in
    the +Inf bucket: the value is then the highest finite bound, a lower bound."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower, True
            if count == below:
                return upper, False
            return lower + (upper - lower) * (rank - below) / (count - below), False
        lower, below = upper, count
    return lower, True


@dataclass(frozen=True, slots=True)
class Sample:
    """The counters the plan's metrics are computed from, at one instant."""

    at: datetime
    values: dict[str, float]
    buckets: dict[str, Buckets]

    def minus(self, base: Sample) -> Sample:
        """What was counted between `base` and this sample."""
        values = {k: v - base.values.get(k, 0.0) for k, v in self.values.items()}
        buckets = {}
        for route, now in self.buckets.items():
            then = dict(base.buckets.get(route, ()))
            buckets[route] = tuple((le, n - then.get(le, 0.0)) for le, n in now)
        return Sample(self.at, values, buckets)
