#!/usr/bin/env python3
"""
impl_socialplug_reference: impl_socialplug with the workload's own rule matcher
(common.RuleSet) in place of socialplug's QuerySet: isolates the cost of the runtime.
"""

from __future__ import annotations

from impl_socialplug import main, reference_matcher


if __name__ == "__main__":
    main(name="socialplug_reference", matcher=reference_matcher)
