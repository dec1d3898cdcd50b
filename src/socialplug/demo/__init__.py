"""
The offline demo: a simulated day of a fictional rail company on loopback, a real pipeline
against it, and an HTML report.

``socialplug demo`` (or :func:`run_demo`) starts a Mastodon-like and a Bluesky-like server and
an RSS site (with the ``feeds`` extra) from :mod:`socialplug.testing`, publishes a generated
day of posts about Northline Rail in five languages (with a train stuck in a tunnel in the
evening rush) ten simulated minutes at a time, and after each step runs the pipeline once,
as a cron job would: queries, sentiment, routes to support, operations and management, spike
detection opening an incident, a webhook to a local receiver, emails to a local SMTP server, a
SQLite archive and drafted replies awaiting approval. It then writes ``report.html``.
"""

from __future__ import annotations

from ._run import DemoResult as DemoResult
from ._run import run_demo as run_demo


__all__ = ["DemoResult", "run_demo"]
