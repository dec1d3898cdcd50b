"""
A consumer process for the crash tests: reads a bus source, records every post key it handled
(one line each, flushed to disk) and then commits the page, the way the runtime does.

    python _consume.py BROKER CONFIG_JSON RECORD_FILE EXPECTED [HANG_AFTER_PAGES]

With HANG_AFTER_PAGES, it records that many pages, commits all but the last, writes
``RECORD_FILE.hung`` and waits forever (the test then kills it): the last page was handled but
never acknowledged, as when a worker dies between delivering and committing. Without it, the
process exits once EXPECTED distinct keys were committed (``RECORD_FILE.committed``, appended
after each commit).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio


def build(broker: str, config: dict[str, Any]) -> Any:
    if broker == "redis":
        from socialplug.sources.redis import RedisStreamSource

        return RedisStreamSource(**config)
    if broker == "nats":
        from socialplug.sources.nats import NatsJetStreamSource

        return NatsJetStreamSource(**config)
    if broker == "amqp":
        from socialplug.sources.rabbitmq import RabbitMQSource

        return RabbitMQSource(**config)
    if broker == "kafka":
        from socialplug.sources.kafka import KafkaSource

        return KafkaSource(**config)
    if broker == "mqtt":
        from socialplug.sources.mqtt import MQTTSource

        return MQTTSource(**config)
    raise SystemExit(f"unknown broker {broker}")


async def main() -> None:
    broker, config, record, expected = sys.argv[1:5]
    hang_after = int(sys.argv[5]) if len(sys.argv) > 5 else None
    source = build(broker, json.loads(config))
    path, done = Path(record), Path(record + ".committed")
    committed = set(done.read_text().splitlines()) if done.exists() else set()  # noqa: ASYNC240
    pages = 0
    with path.open("a", encoding="utf-8") as out:  # noqa: ASYNC230
        async for page in source.pages(None, follow=True):
            for post in page.posts:
                out.write(post.key + "\n")
            out.flush()
            os.fsync(out.fileno())
            pages += 1
            if hang_after is not None and pages >= hang_after:
                marker = Path(record + ".hung")
                marker.with_suffix(".tmp").write_text(str(len(page.posts)))
                marker.with_suffix(".tmp").replace(marker)  # appears complete, never empty
                await anyio.sleep_forever()
            await source.commit(page.cursor)
            committed.update(p.key for p in page.posts)
            with done.open("a", encoding="utf-8") as log:  # noqa: ASYNC230
                log.writelines(p.key + "\n" for p in page.posts)
            if len(committed) >= int(expected):
                break
    await source.aclose()


if __name__ == "__main__":
    anyio.run(main)
