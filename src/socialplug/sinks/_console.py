"""
A sink printing to a terminal: see what a pipeline does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TextIO

import attrs

from ..model import Alert, Delivery, item_to_dict


__all__ = ["ConsoleSink"]


def _line(delivery: Delivery, width: int) -> str:
    item = delivery.item
    if isinstance(item, Alert):
        return f"[{delivery.route}] ALERT {item.severity} {item.kind}: {item.title}"
    text = " ".join(item.text.split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    who = item.author.handle or item.author.name or "?"
    return f"[{delivery.route}] {item.platform} @{who} {item.created_at:%Y-%m-%d %H:%M}: {text}"


@attrs.define(eq=False)
class ConsoleSink:
    """
    Print one line per delivery (or one JSON document with ``json=True``).

    Args:
        stream: Where to print; standard output by default.
        json: Print JSON lines instead of text.
        width: Longest text shown per post.
    """

    stream: TextIO | None = None
    json: bool = attrs.field(default=False, kw_only=True)
    width: int = attrs.field(default=120, kw_only=True)

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Print the batch."""
        out = self.stream or sys.stdout
        for delivery in batch:
            if self.json:
                doc = {"route": delivery.route, **item_to_dict(delivery.item)}
                out.write(json.dumps(doc, ensure_ascii=False) + "\n")
            else:
                out.write(_line(delivery, self.width) + "\n")
        out.flush()

    async def aclose(self) -> None:
        """Nothing to release (the stream is not ours)."""
