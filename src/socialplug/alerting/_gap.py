"""
Gap alerts: a source that went silent, or keeps failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from ..exceptions import ConfigurationError
from ..model import Alert
from ._keys import epoch, from_epoch


__all__ = ["GapState", "Gaps"]


def _periods(value: Mapping[str, timedelta]) -> Mapping[str, timedelta]:
    for source, period in value.items():
        if period <= timedelta(0):
            msg = f"Gaps: the silence allowed for {source!r} must be positive"
            raise ConfigurationError(msg)
    return dict(value)


@attrs.frozen(kw_only=True)
class Gaps:
    """
    Raise an operational alert when a source is silent for longer than expected, or when its
    errors persist: the pipeline tells people when it is failing.

    Silence is measured on the injected clock from the last post of the source (or from
    the start of the run). Errors come from :meth:`Monitor.source_failed
    <socialplug.alerting.Monitor.source_failed>`; a post from the source clears them.

    Attributes:
        expect: The longest silence allowed per source name.
        default: The silence allowed for any other source that produced a post.
        failing: How long errors may persist before an alert.
        route: Where gap alerts go (``None``: the routes that take alerts).
        severity: Their severity.

    .. versionadded:: 0.1.0
    """

    expect: Mapping[str, timedelta] = attrs.field(factory=dict, converter=_periods)
    default: timedelta | None = None
    failing: timedelta = timedelta(minutes=15)
    route: str | None = None
    severity: str = "P2"


class GapState:
    """
    Per source: last post, first error of the current run of errors, and what was told.

    .. versionadded:: 0.1.0
    """

    def __init__(self, spec: Gaps, /) -> None:
        self.spec = spec
        self.sources: dict[str, dict[str, Any]] = {}
        self.dirty: set[str] = set()

    def load(self, records: Mapping[str, Any], /) -> None:
        """Replace the state with *records* (source -> record)."""
        self.sources = {k: dict(v) for k, v in records.items()}
        self.dirty.clear()

    def start(self, t: float, /) -> None:
        """Begin watching the expected sources not yet known, from epoch *t*."""
        for source in self.spec.expect:
            if source not in self.sources:
                self.sources[source] = self._fresh(t)
                self.dirty.add(source)

    @staticmethod
    def _fresh(t: float) -> dict[str, Any]:
        return {"last": t, "silent": False, "error_since": None, "error": None, "failing": False}

    def _record(self, source: str, t: float) -> dict[str, Any] | None:
        record = self.sources.get(source)
        if record is None and (source in self.spec.expect or self.spec.default is not None):
            record = self.sources[source] = self._fresh(t)
        return record

    def observe(self, source: str, now: datetime, /) -> Alert | None:
        """Note a post from *source*; return an all-clear if it was reported silent or failing."""
        t = epoch(now)
        record = self._record(source, t)
        if record is None:
            return None
        was_down = record["silent"] or record["failing"]
        if record["last"] < t - 1.0 or was_down or record["error_since"] is not None:
            self.dirty.add(source)  # save at most about once a second per source
        record["last"] = max(record["last"], t)
        record["error_since"] = record["error"] = None
        record["silent"] = record["failing"] = False
        if not was_down:
            return None
        return self._alert(
            source,
            "gap.resolved",
            now,
            title=f"{source} is producing posts again",
            key=f"gap:{source}:resolved:{int(t)}",
        )

    def failed(self, source: str, error: str, now: datetime, /) -> None:
        """Note that *source* failed with *error*."""
        t = epoch(now)
        record = self._record(source, t) or self.sources.setdefault(source, self._fresh(t))
        if record["error_since"] is None:
            record["error_since"] = t
        record["error"] = error
        self.dirty.add(source)

    def tick(self, now: datetime, /) -> list[Alert]:
        """Return the alerts of sources silent or failing for too long at *now*."""
        t = epoch(now)
        out = []
        for source, record in self.sources.items():
            allowed = self.spec.expect.get(source, self.spec.default)
            if allowed is not None and not record["silent"]:
                silence = t - record["last"]
                if silence > allowed.total_seconds():
                    record["silent"] = True
                    self.dirty.add(source)
                    out.append(
                        self._alert(
                            source,
                            "gap",
                            now,
                            title=f"{source} has been silent for {silence / 60:.0f} minutes",
                            summary=f"No post since {from_epoch(record['last']).isoformat()}; "
                            f"expected one at least every {allowed}.",
                            key=f"gap:{source}:silent:{int(record['last'])}",
                            reason="silent",
                        )
                    )
            since = record["error_since"]
            failing_for = 0.0 if since is None else t - since
            if (
                since is not None
                and not record["failing"]
                and failing_for >= self.spec.failing.total_seconds()
            ):
                record["failing"] = True
                self.dirty.add(source)
                out.append(
                    self._alert(
                        source,
                        "gap",
                        now,
                        title=f"{source} has been failing for {failing_for / 60:.0f} minutes",
                        summary=f"Last error: {record['error']}",
                        key=f"gap:{source}:failing:{int(since)}",
                        reason="failing",
                    )
                )
        return out

    def _alert(
        self,
        source: str,
        kind: str,
        now: datetime,
        *,
        title: str,
        key: str,
        summary: str = "",
        reason: str = "",
    ) -> Alert:
        return Alert(
            kind=kind,
            key=key,
            title=title,
            summary=summary,
            created_at=now,
            severity=self.spec.severity,
            route=self.spec.route,
            data={"source": source, "reason": reason},
        )
