"""
A generated day of posts about Northline Rail, a fictional rail company, in several
languages, with an incident: a train stuck in the Kessel tunnel in the evening rush.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import attrs


__all__ = ["DAY", "INCIDENT_END", "INCIDENT_START", "WorldPost", "generate"]

DAY = datetime(2026, 11, 20, tzinfo=UTC)
INCIDENT_START = DAY + timedelta(hours=17, minutes=10)
INCIDENT_END = DAY + timedelta(hours=18, minutes=40)

_ROUTINE = {
    "en": [
        ("Smooth ride on the #Northline this morning, coffee in the quiet coach was great", 1),
        ("Northline 7:42 on time again, nice one", 1),
        ("Thanks Northline staff at Central for helping my mum with her luggage", 1),
        ("Why is the Northline app so slow when I try to buy a ticket", -1),
        ("Northline train 10 minutes late, again. Every single Monday", -1),
        ("Is the Northline bike carriage back on the 9:15 service?", 0),
        ("Northline wifi works today, small miracles", 1),
        ("Crowded Northline train, no seats from Harbour to Central", -1),
        ("Northline timetable for the holidays is out", 0),
        ("Refund request for my delayed Northline trip still not answered", -1),
    ],
    "de": [
        ("Northline heute pünktlich, sehr angenehme Fahrt", 1),
        ("Northline Zug schon wieder 15 Minuten Verspätung", -1),
        ("Gibt es bei Northline eine Monatskarte für Studenten?", 0),
        ("Danke an das freundliche Northline Personal in Talbach", 1),
    ],
    "fr": [
        ("Le train Northline était à l'heure ce matin, merci", 1),
        ("Northline encore en retard, c'est pénible", -1),
        ("Quelqu'un sait si la Northline circule dimanche ?", 0),
    ],
    "es": [
        ("Viaje tranquilo en Northline hoy, muy bien", 1),
        ("El tren de Northline llega tarde otra vez", -1),
    ],
    "nl": [
        ("Northline trein keurig op tijd vandaag", 1),
        ("Northline weer vertraging, balen", -1),
    ],
}

_INCIDENT = {
    "en": [
        "Stuck in the Kessel tunnel on the Northline for 40 minutes, no announcement at all",
        "Northline train stuck in a tunnel, lights off, nobody tells us anything",
        "@northline we are stuck near Kessel, is anyone coming? kids are scared",
        "Train stuck in the tunnel, Northline please give us an update",
        "Still stuck. Northline this is unacceptable, no water, no information #stucktrain",
        "My dad is stuck on the Northline 17:05 in the Kessel tunnel, any news?",
        "Northline: passengers stuck over an hour. Evacuation when?",
        "Heard the Northline train in Kessel tunnel has a power failure, stuck since 5",
    ],
    "de": [
        "Northline Zug steckt im Kessel-Tunnel fest, keine Durchsage, nichts",
        "Wir stecken seit einer Stunde im Tunnel fest, Northline meldet sich nicht",
    ],
    "fr": [
        "Train Northline bloqué dans le tunnel de Kessel depuis 45 minutes, aucune annonce",
        "Toujours bloqués dans le tunnel, Northline ne dit rien",
    ],
    "es": ["Atrapados en el túnel con Northline, sin ningún aviso"],
    "nl": ["Northline trein staat vast in de Kessel tunnel, geen omroep"],
}

_NEWS = [
    (
        DAY + timedelta(hours=9),
        "Northline Rail publishes winter timetable",
        "Northline Rail has published its winter timetable with two extra evening services.",
    ),
    (
        DAY + timedelta(hours=17, minutes=50),
        "Train stuck in Kessel tunnel after power failure",
        "A Northline Rail train has been stuck in the Kessel tunnel since 17:05 after a power "
        "failure; passengers report no announcements.",
    ),
    (
        DAY + timedelta(hours=18, minutes=45),
        "Northline: Kessel tunnel passengers evacuated",
        "All passengers of the stuck Northline train were evacuated; service resumes tomorrow.",
    ),
]


@attrs.frozen
class WorldPost:
    """One generated post: where it is published, by whom, when, and what it says."""

    platform: str  # "mastodon", "bluesky" or "feed"
    author: str
    text: str
    lang: str
    at: datetime
    likes: int = 0
    title: str | None = None


def _rate(hour: float) -> float:
    """Posts per hour of routine chatter: morning and evening rush, quiet night."""
    if hour < 5:
        return 1.0
    if 6.5 <= hour < 9.5 or 16 <= hour < 19:
        return 9.0
    return 4.0


def generate(seed: int = 20261120) -> list[WorldPost]:
    """The day's posts, in time order (deterministic for a seed)."""
    rng = random.Random(seed)  # noqa: S311 - a simulation, not cryptography
    posts: list[WorldPost] = []
    langs = list(_ROUTINE)
    weights = [6, 2, 1.5, 1, 1]
    t = DAY
    end = DAY + timedelta(days=1)
    while t < end:
        hour = (t - DAY).total_seconds() / 3600
        t += timedelta(hours=rng.expovariate(_rate(hour)))
        if t >= end:
            break
        lang = rng.choices(langs, weights)[0]
        text, _ = rng.choice(_ROUTINE[lang])
        posts.append(_post(rng, text, lang, t))
    # The incident: a surge of complaints about the stuck train.
    t = INCIDENT_START
    n = 0
    while t < INCIDENT_END:
        minutes = (t - INCIDENT_START).total_seconds() / 60
        per_minute = 0.6 + 1.6 * min(1.0, minutes / 25)  # builds up over 25 minutes
        t += timedelta(minutes=rng.expovariate(per_minute))
        lang = rng.choices(langs, [6, 2, 1.5, 0.7, 0.7])[0]
        posts.append(_post(rng, rng.choice(_INCIDENT[lang]), lang, t, likes=rng.randint(5, 400)))
        n += 1
    for at, title, text in _NEWS:
        posts.append(WorldPost(platform="feed", author="Rail Gazette", text=text, lang="en",
                               at=at, title=title))  # fmt: skip
    posts.sort(key=lambda p: p.at)
    return posts


def _post(rng: random.Random, text: str, lang: str, at: datetime, likes: int = -1) -> WorldPost:
    platform = "mastodon" if rng.random() < 0.55 else "bluesky"
    who = rng.choice(["ana", "ben", "chloe", "dev", "eli", "fatima", "gus", "hana", "ivo", "jo",
                      "kai", "lena", "marc", "nour", "olu", "pia", "quentin", "rosa"])  # fmt: skip
    author = f"{who}{rng.randint(1, 99)}"
    return WorldPost(
        platform=platform,
        author=author,
        text=text,
        lang=lang,
        at=at.replace(microsecond=0),
        likes=likes if likes >= 0 else rng.randint(0, 30),
    )
