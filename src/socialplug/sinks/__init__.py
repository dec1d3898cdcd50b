"""
Sinks: where posts and alerts are delivered.

Platform sinks live in their own public modules (``socialplug.sinks.slack``,
``socialplug.sinks.email``, ...) with their default layouts; the main classes are also
reachable from here.
"""

from __future__ import annotations

from ._callable import CallableSink as CallableSink
from ._console import ConsoleSink as ConsoleSink
from ._jsonl import JSONLSink as JSONLSink
from ._memory import MemorySink as MemorySink
from .discord import DiscordWebhookSink as DiscordWebhookSink
from .email import EmailSink as EmailSink
from .github import GitHubIssuesSink as GitHubIssuesSink
from .jira import JiraSink as JiraSink
from .matrix import MatrixSink as MatrixSink
from .mattermost import MattermostWebhookSink as MattermostWebhookSink
from .opsgenie import OpsgenieSink as OpsgenieSink
from .pagerduty import PagerDutySink as PagerDutySink
from .replies import ReplySink as ReplySink
from .slack import SlackSink as SlackSink
from .slack import SlackWebhookSink as SlackWebhookSink
from .teams import TeamsWebhookSink as TeamsWebhookSink
from .webhook import WebhookSink as WebhookSink
from .zendesk import ZendeskSink as ZendeskSink


__all__ = [
    "CallableSink",
    "ConsoleSink",
    "DiscordWebhookSink",
    "EmailSink",
    "GitHubIssuesSink",
    "JSONLSink",
    "JiraSink",
    "MatrixSink",
    "MattermostWebhookSink",
    "MemorySink",
    "OpsgenieSink",
    "PagerDutySink",
    "ReplySink",
    "SlackSink",
    "SlackWebhookSink",
    "TeamsWebhookSink",
    "WebhookSink",
    "ZendeskSink",
]
