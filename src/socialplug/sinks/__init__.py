"""
Sinks: where posts and alerts are delivered.

Destination sinks live in their public modules (``socialplug.sinks.sql``,
``socialplug.sinks.slack``, ...) and are re-exported here. They load on first use, so
``import socialplug`` stays light until a sink is actually used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._callable import CallableSink as CallableSink
from ._console import ConsoleSink as ConsoleSink
from ._jsonl import JSONLSink as JSONLSink
from ._memory import MemorySink as MemorySink


if TYPE_CHECKING:
    from .dataframe import DataFrameSink as DataFrameSink
    from .discord import DiscordWebhookSink as DiscordWebhookSink
    from .email import EmailSink as EmailSink
    from .files import CSVSink as CSVSink
    from .files import JSONLinesSink as JSONLinesSink
    from .files import ParquetSink as ParquetSink
    from .github import GitHubIssuesSink as GitHubIssuesSink
    from .jira import JiraSink as JiraSink
    from .kafka import KafkaSink as KafkaSink
    from .matrix import MatrixSink as MatrixSink
    from .mattermost import MattermostWebhookSink as MattermostWebhookSink
    from .mqtt import MQTTSink as MQTTSink
    from .nats import NatsJetStreamSink as NatsJetStreamSink
    from .opsgenie import OpsgenieSink as OpsgenieSink
    from .pagerduty import PagerDutySink as PagerDutySink
    from .rabbitmq import RabbitMQSink as RabbitMQSink
    from .redis import RedisStreamSink as RedisStreamSink
    from .replies import ReplySink as ReplySink
    from .slack import SlackSink as SlackSink
    from .slack import SlackWebhookSink as SlackWebhookSink
    from .sql import PostgresSink as PostgresSink
    from .sql import SQLiteSink as SQLiteSink
    from .teams import TeamsWebhookSink as TeamsWebhookSink
    from .webhook import WebhookSink as WebhookSink
    from .zendesk import ZendeskSink as ZendeskSink


_LAZY = {
    "CSVSink": "files",
    "DataFrameSink": "dataframe",
    "DiscordWebhookSink": "discord",
    "EmailSink": "email",
    "GitHubIssuesSink": "github",
    "JSONLinesSink": "files",
    "JiraSink": "jira",
    "KafkaSink": "kafka",
    "MQTTSink": "mqtt",
    "MatrixSink": "matrix",
    "MattermostWebhookSink": "mattermost",
    "NatsJetStreamSink": "nats",
    "OpsgenieSink": "opsgenie",
    "PagerDutySink": "pagerduty",
    "ParquetSink": "files",
    "PostgresSink": "sql",
    "RabbitMQSink": "rabbitmq",
    "RedisStreamSink": "redis",
    "ReplySink": "replies",
    "SQLiteSink": "sql",
    "SlackSink": "slack",
    "SlackWebhookSink": "slack",
    "TeamsWebhookSink": "teams",
    "WebhookSink": "webhook",
    "ZendeskSink": "zendesk",
}

__all__ = [
    "CSVSink",
    "CallableSink",
    "ConsoleSink",
    "DataFrameSink",
    "DiscordWebhookSink",
    "EmailSink",
    "GitHubIssuesSink",
    "JSONLSink",
    "JSONLinesSink",
    "JiraSink",
    "KafkaSink",
    "MQTTSink",
    "MatrixSink",
    "MattermostWebhookSink",
    "MemorySink",
    "NatsJetStreamSink",
    "OpsgenieSink",
    "PagerDutySink",
    "ParquetSink",
    "PostgresSink",
    "RabbitMQSink",
    "RedisStreamSink",
    "ReplySink",
    "SQLiteSink",
    "SlackSink",
    "SlackWebhookSink",
    "TeamsWebhookSink",
    "WebhookSink",
    "ZendeskSink",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
