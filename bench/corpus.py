"""The benchmark corpus: documents, facts and queries generated from a fixed seed.

Sentences are assembled from about 240 words and phrases in 12 topics (subjects, actions,
objects, places, times, reasons, numbers), so the vocabulary varies and every text is unique.
Documents are 1 to 3 sentences (about 34 words on average, a short retrieval chunk); facts
are one short sentence (about 12 words); queries are 4 to 10 word questions.
"""

from __future__ import annotations

import random

TOPICS = {
    "travel": [
        "flight",
        "hotel",
        "itinerary",
        "visa",
        "train ticket",
        "layover",
        "passport",
        "car rental",
        "boarding pass",
        "travel insurance",
    ],
    "food": [
        "vegetarian menu",
        "sourdough bread",
        "espresso machine",
        "ramen place",
        "gluten-free pasta",
        "spice market",
        "farmers market",
        "tasting menu",
        "green tea",
        "olive oil",
    ],
    "work": [
        "quarterly review",
        "performance report",
        "standup meeting",
        "hiring plan",
        "budget forecast",
        "team offsite",
        "roadmap",
        "onboarding checklist",
        "project retrospective",
        "customer escalation",
    ],
    "code": [
        "pull request",
        "database migration",
        "payment service",
        "unit test suite",
        "deployment pipeline",
        "feature flag",
        "memory leak",
        "API gateway",
        "search index",
        "message queue",
    ],
    "health": [
        "physiotherapy session",
        "running plan",
        "blood test",
        "sleep schedule",
        "allergy medication",
        "dentist appointment",
        "yoga class",
        "protein intake",
        "knee injury",
        "eye exam",
    ],
    "finance": [
        "tax return",
        "savings account",
        "mortgage rate",
        "pension plan",
        "credit card statement",
        "invoice",
        "expense report",
        "stock portfolio",
        "insurance premium",
        "utility bill",
    ],
    "home": [
        "kitchen renovation",
        "heating system",
        "garden shed",
        "leaking roof",
        "washing machine",
        "bookshelf",
        "balcony plants",
        "window insulation",
        "smart thermostat",
        "moving boxes",
    ],
    "music": [
        "piano lessons",
        "vinyl collection",
        "jazz concert",
        "guitar strings",
        "choir rehearsal",
        "festival tickets",
        "podcast episode",
        "recording session",
        "drum kit",
        "playlist",
    ],
    "study": [
        "thesis chapter",
        "statistics course",
        "language exam",
        "reading list",
        "lab report",
        "lecture notes",
        "scholarship application",
        "research proposal",
        "online course",
        "study group",
    ],
    "family": [
        "birthday party",
        "school pickup",
        "wedding anniversary",
        "family reunion",
        "babysitter",
        "holiday dinner",
        "grandmother's visit",
        "summer camp",
        "parent-teacher meeting",
        "photo album",
    ],
    "sport": [
        "marathon training",
        "tennis match",
        "climbing gym",
        "bike repair",
        "swimming lessons",
        "football season",
        "ski trip",
        "rowing club",
        "chess club",
        "hiking boots",
    ],
    "support": [
        "support ticket",
        "refund request",
        "shipping delay",
        "password reset",
        "billing dispute",
        "warranty claim",
        "account upgrade",
        "service outage",
        "data export",
        "cancellation notice",
    ],
}
SUBJECTS = [
    "The user",
    "Alice",
    "Bob",
    "Our team",
    "The agent",
    "My manager",
    "The customer",
    "Priya",
    "Jonas",
    "The landlord",
    "Mei",
    "The new intern",
    "Carlos",
    "The doctor",
    "Fatima",
    "The support lead",
    "Grandpa",
    "The accountant",
    "Noah",
    "Sofia",
]
ACTIONS = [
    "prefers",
    "asked about",
    "scheduled",
    "rejected",
    "mentioned",
    "is working on",
    "wants to postpone",
    "cancelled",
    "approved",
    "complained about",
    "compared",
    "booked",
    "forgot about",
    "recommended",
    "is worried about",
    "finished",
    "needs help with",
    "paid for",
    "reviewed",
    "signed up for",
    "returned",
    "is planning",
    "asked to reschedule",
    "documented",
    "double-checked",
]
QUALIFIERS = [
    "the cheaper",
    "the second",
    "a shorter",
    "the original",
    "a faster",
    "the updated",
    "an early",
    "the quarterly",
    "a weekly",
    "the long-awaited",
    "the urgent",
    "a smaller",
    "the premium",
    "the shared",
    "a temporary",
]
PLACES = [
    "in Berlin",
    "near the office",
    "in Lisbon",
    "at home",
    "in the city centre",
    "in Osaka",
    "at the airport",
    "downtown",
    "in Toronto",
    "at the warehouse",
    "in Nairobi",
    "at the clinic",
    "in Madrid",
    "on the third floor",
    "in Melbourne",
]
TIMES = [
    "on Friday morning",
    "next week",
    "before the end of June",
    "last Tuesday",
    "after the holidays",
    "every other Monday",
    "in March",
    "tomorrow at noon",
    "before the deadline",
    "by the end of the quarter",
    "over the weekend",
    "in the second week of September",
    "right after lunch",
    "since January",
]
REASONS = [
    "because the previous attempt failed twice",
    "since the price went up by twenty percent",
    "according to the notes from yesterday's call",
    "so that nobody has to wait for approval",
    "after a long discussion with the rest of the group",
    "because the reviewer asked for more detail",
    "to avoid the traffic on the main road",
    "as agreed in the contract signed last year",
    "given the feedback collected in the survey",
    "while the budget is still open",
    "because the old one stopped working",
    "to keep the weekend free",
]
EXTRAS = [
    "The decision is still open.",
    "A reminder was set.",
    "See ticket #{n}.",
    "Costs are estimated at {n} euros.",
    "It took {n} minutes.",
    "Nobody objected.",
    "Everyone agreed it was worth it.",
    "The invoice number is {n}.",
    "This came up {n} times already.",
    "It should be revisited later.",
]
QUESTION = [
    "what did",
    "when is",
    "who handled",
    "why was",
    "how much was",
    "where is",
    "what changed in",
    "is there news on",
    "which option for",
    "any update on",
]


def _objects(rng: random.Random) -> tuple[str, str]:
    topic = rng.choice(sorted(TOPICS))
    return topic, rng.choice(TOPICS[topic])


def _sentence(rng: random.Random, *, short: bool = False) -> str:
    _, obj = _objects(rng)
    words = [rng.choice(SUBJECTS), rng.choice(ACTIONS), rng.choice(QUALIFIERS), obj]
    if rng.random() < 0.7:
        words.append(rng.choice(PLACES))
    if rng.random() < 0.7:
        words.append(rng.choice(TIMES))
    if not short and rng.random() < 0.6:
        words.append(rng.choice(REASONS))
    text = " ".join(words) + "."
    if not short and rng.random() < 0.4:
        text += " " + rng.choice(EXTRAS).format(n=rng.randint(2, 99999))
    return text


def _unique(make, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        text = make(rng)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def documents(n: int, seed: int = 1) -> list[str]:
    """n unique document texts of 1 to 3 sentences."""
    return _unique(
        lambda r: " ".join(_sentence(r) for _ in range(r.choice([1, 2, 2, 2, 3]))), n, seed
    )


def facts(n: int, seed: int = 2) -> list[str]:
    """n unique one-sentence facts."""
    return _unique(lambda r: _sentence(r, short=True), n, seed)


def queries(n: int, seed: int = 3) -> list[str]:
    """n unique short questions (distinct seeds give practically disjoint lists)."""

    def make(rng: random.Random) -> str:
        words = [rng.choice(QUESTION), rng.choice(SUBJECTS).lower(), _objects(rng)[1]]
        if rng.random() < 0.5:
            words.append(rng.choice(PLACES + TIMES))
        return " ".join(words) + "?"

    return _unique(make, n, seed)


def document_payloads(texts: list[str], start: int = 0, users: int = 0) -> list[dict]:
    """Request bodies for documents: an explicit id and a little metadata; with `users`, each
    owned by one of that many users in turn (`user_id`)."""
    return [
        {
            "doc_id": f"doc-{start + i}",
            "content": text,
            "metadata": {"source": "bench", "n": start + i},
            **({"user_id": user(start + i, users)} if users else {}),
        }
        for i, text in enumerate(texts)
    ]


def user(n: int, users: int = 100) -> str:
    """The `n`-th of `users` users (facts and documents spread over users are theirs in turn)."""
    return f"user-{n % users}"


def fact_payloads(texts: list[str], start: int = 0, users: int = 100) -> list[dict]:
    """Request bodies for facts, spread over `users` users."""
    return [
        {"content": text, "user_id": user(start + i, users), "metadata": {"n": start + i}}
        for i, text in enumerate(texts)
    ]
