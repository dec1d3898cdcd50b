#!/usr/bin/env python3
"""
impl_socialplug_alerting: impl_socialplug plus routing through a ``Router`` and a
``Monitor`` (per-route spike detection and incident grouping) seeing every routed post.
Same result; compare the two to measure what alerting adds:

    RUNS=3 N=20000 RULESETS=rules.json PY=.venv/bin/python \
      IMPLS="benchmarks/impl_socialplug.py benchmarks/impl_socialplug_alerting.py" \
      ../shared/bench/run_bench.sh
"""

from __future__ import annotations

from impl_socialplug import main


if __name__ == "__main__":
    main(name="socialplug_alerting", alerting=True)
