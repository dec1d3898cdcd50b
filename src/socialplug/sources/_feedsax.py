"""
An ``xml.sax`` driver for feedparser: expat's own reader, which hands over each run of
character data whole (``buffer_text``), not in pieces split at every line end and entity.

feedparser joins the pieces of an element's text anyway; it gets the same text in fewer
calls. Everything else is :class:`xml.sax.expatreader.ExpatParser`'s.
"""

from __future__ import annotations

from typing import Any
from xml.sax.expatreader import ExpatParser


__all__ = ["create_parser"]


class _WholeTextExpatParser(ExpatParser):
    def reset(self) -> None:
        super().reset()
        self._parser.buffer_text = True  # type: ignore[attr-defined]


def create_parser(*args: Any, **kwargs: Any) -> ExpatParser:
    """The driver's entry point, as ``xml.sax.make_parser`` calls it."""
    return _WholeTextExpatParser(*args, **kwargs)
