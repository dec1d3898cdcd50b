"""
A sink appending JSON Lines to a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import anyio.to_thread
import attrs

from ..exceptions import DeliveryError
from ..model import Delivery, item_to_dict


__all__ = ["JSONLSink"]


def _line_encoder() -> Callable[[Any], str]:
    """
    ``json.dumps(value, ensure_ascii=False)``, the same text, with one C encoder made once
    (``JSONEncoder.encode`` makes one per call). It does not look for circular references,
    which raise ``RecursionError`` instead of ``ValueError``.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator (another Python implementation)
        return json.JSONEncoder(ensure_ascii=False).encode
    default = json.JSONEncoder().default  # raises TypeError naming the type, as dumps does
    sort_keys, skipkeys, allow_nan = False, False, True  # dumps' defaults, positionally
    encoder = make(
        None, default, json.encoder.encode_basestring, None, ": ", ", ", sort_keys, skipkeys,
        allow_nan,
    )  # fmt: skip
    join = "".join

    def encode(value: Any) -> str:
        return join(encoder(value, 0))

    return encode


_encode = _line_encoder()


def _default_render(delivery: Delivery) -> dict[str, Any]:
    return {"route": delivery.route, "delivery": delivery.key, "item": item_to_dict(delivery.item)}


@attrs.define(eq=False)
class JSONLSink:
    """
    Append one JSON line per delivery to *path*.

    The default line is ``{"route": ..., "delivery": <idempotency key>, "item": {...}}`` with
    the full item, losslessly (:class:`~socialplug.sources.JSONLSource` reads such files
    back). Pass *render* to write your own shape: it returns a dict (dumped as JSON) or a
    ready string.

    Args:
        path: The file; its folder is created if needed.
        render: ``Delivery -> dict | str``.
        fsync: Flush to disk after every batch (slower, survives power loss).
    """

    path: Path = attrs.field(converter=Path)
    render: Callable[[Delivery], dict[str, Any] | str] = attrs.field(
        default=_default_render, kw_only=True
    )
    fsync: bool = attrs.field(default=False, kw_only=True)
    _file: IO[str] | None = attrs.field(init=False, default=None, repr=False)

    def _write(self, lines: list[str]) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write("".join(lines))
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    async def deliver(self, batch: Sequence[Delivery], /) -> None:
        """Append the batch and flush."""
        render = self.render
        encode = _encode
        lines = []
        for delivery in batch:
            out = render(delivery)
            lines.append((out if isinstance(out, str) else encode(out)) + "\n")
        try:
            await anyio.to_thread.run_sync(self._write, lines)
        except OSError as exc:
            msg = f"cannot write {self.path}: {exc}"
            raise DeliveryError(msg, retryable=False) from exc

    async def aclose(self) -> None:
        """Close the file; it reopens (appending) on next use."""
        file, self._file = self._file, None
        if file is not None:
            file.close()
