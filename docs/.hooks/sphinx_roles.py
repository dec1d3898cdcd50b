"""
Griffe extension: render the reST roles of docstrings (``:class:`~socialplug.Post```) as
code spans (`Post`), so that docstrings read well both in editors and on the site.
"""

from __future__ import annotations

import re
from typing import Any

import griffe


ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|exc|mod|data|obj|const):`(?P<target>[^`]+)`")


def _span(match: re.Match[str]) -> str:
    target = match["target"].strip()
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


class SphinxRoles(griffe.Extension):
    """Rewrite reST cross-reference roles into Markdown code spans."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of every object as it is loaded."""
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = ROLE.sub(_span, obj.docstring.value)
