"""Turning customer text into search terms: words, stop words, stems and store synonyms."""

import re
from functools import lru_cache

import snowballstemmer

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STEMMER = snowballstemmer.stemmer("english")

STOP_WORDS = frozenset(
    """
    a about after again all also am an and any are as at be been before being but by can
    could did do does doing don't for from get got had has have having he her here him his
    how i i'd i'm if in into is it it's its just me might more most my no not now of off
    on once only or other our out over own please same she should so some still such than
    that the their them then there there's these they this those through to too under
    until up very was we were what when where which while who why will with would yet you
    your yours
    """.split()  # noqa: SIM905
)

# Words customers use for the same thing, mapped onto one canonical word before stemming.
SYNONYMS = {
    "parcel": "package",
    "packages": "package",
    "box": "package",
    "boxes": "package",
    "shipment": "package",
    "courier": "carrier",
    "ups": "carrier",
    "fedex": "carrier",
    "usps": "carrier",
    "postage": "shipping",
    "delivery": "shipping",
    "deliver": "ship",
    "mail": "ship",
    "send": "ship",
    "sent": "ship",
    "abroad": "international",
    "germany": "international",
    "uk": "international",
    "kingdom": "international",
    "australia": "international",
    "countries": "international",
    "country": "international",
    "arrive": "shipping",
    "fast": "long",
    "receipt": "confirmation",
    "registration": "account",
    "register": "account",
    "stuff": "item",
    "things": "item",
    "product": "item",
    "products": "item",
    "dryer": "dry",
    "covered": "warranty",
    "overseas": "international",
    "coupon": "promo",
    "voucher": "promo",
    "discount": "promo",
    "refused": "declined",
    "rejected": "declined",
    "password": "password",
    "login": "sign",
    "log": "sign",
    "guarantee": "warranty",
    "broken": "defective",
    "faulty": "defective",
    "cracked": "damaged",
    "crushed": "damaged",
    "erase": "delete",
    "remove": "delete",
    "newsletter": "marketing",
    "newsletters": "marketing",
    "promotional": "marketing",
    "colour": "color",
    "tyre": "tire",
    "personalised": "personalized",
    "authorisation": "authorization",
    "centimetres": "centimeters",
    "purchase": "order",
    "purchased": "ordered",
    "bought": "ordered",
    "buy": "order",
    "money": "refund",
    "installments": "installment",
    "klarna": "installment",
    "afterpay": "installment",
    "wholesale": "bulk",
    "shop": "store",
    "collect": "pickup",
    "pick": "pickup",
    "veterans": "military",
    "veteran": "military",
    "swap": "exchange",
    "trade": "exchange",
}


# Phrases that mean one word, folded before the text is split into words.
PHRASES = {
    "send back": "return",
    "sending back": "return",
    "sent back": "return",
    "send it back": "return",
    "money back": "refund",
    "get the difference": "price adjustment",
    "go through": "declined",
    "sign up": "account",
    "signing up": "account",
    "check out": "checkout",
    "mailing list": "marketing emails",
    "on sale": "price drop",
    "cheaper": "price drop",
    "pay later": "installment",
    "next day": "overnight",
    "same day": "same-day",
    "dropped it off": "delivered",
    "dropped off": "delivered",
    "someone took": "stolen",
    "in person": "pickup",
    "get to me": "arrive",
    "sold out": "out of stock",
    "back in stock": "restock",
    "available again": "restock",
    "take me off": "unsubscribe",
    "stop getting": "unsubscribe",
    "size up": "bigger size",
    "next size": "different size",
    "instead of": "different",
    "wasn't in": "missing",
    "never arrived": "missing",
    "separate boxes": "multiple packages",
    "half my order": "part of my order",
}
_PHRASE = re.compile(
    r"\b(" + "|".join(re.escape(p) for p in sorted(PHRASES, key=len, reverse=True)) + r")\b"
)


@lru_cache(maxsize=20_000)
def _stems(word: str) -> tuple[str, ...]:
    stem = _STEMMER.stemWord(word)
    synonym = SYNONYMS.get(word)
    if synonym is None:
        return (stem,)
    other = _STEMMER.stemWord(synonym)
    return (stem,) if other == stem else (stem, other)


def terms(text: str) -> list[str]:
    """The stemmed content words of a text, each followed by its synonym's stem if it has one.

    Synonyms are added, not substituted: the customer's exact (often rarer, so more telling)
    word still matches, and the common word bridges different phrasings.
    """
    text = text.lower().replace("\u2019", "'").replace("-", " ")
    text = _PHRASE.sub(lambda m: m.group(1) + " " + PHRASES[m.group(1)], text)
    return [stem for word in _WORD.findall(text) if word not in STOP_WORDS for stem in _stems(word)]
