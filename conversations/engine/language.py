"""Which language a customer writes in, guessed cheaply from common words (no model, no data).

The offline engine understands one language, the FAQ's: when the customer writes in another it
says so in the customer's language. The OpenAI path needs none of this: the model is told to
answer in the customer's language (engine/context.py).
"""

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Short, frequent words that rarely occur in the other languages' sentences.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the is are was my your you i it this that what where when how can do does have has "
        "and or not with for to of in on an be will would please thanks thank"
    ),
    "de": _words(
        "der die das ist sind war mein meine meinen ich sie du es wo wann wie kann können "
        "habe hat und oder nicht mit für zu von im auf ein eine einen bitte danke noch schon "
        "bestellung wurde werden ist"
    ),
    "fr": _words(
        "le la les est sont était mon ma mes je vous tu il elle où quand comment peux pouvez "
        "ai a et ou pas avec pour de du des dans sur un une merci ce cette commande bonjour "
        "mais qui que voudrais veux"
    ),
    "es": _words(
        "el la los las es son era mi mis yo usted tú dónde donde cuándo cómo puedo puede "
        "tengo tiene y o no con para de del en un una gracias por favor pedido hola está quiero "
        "qué que"
    ),
}
LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish"}
# What the offline engine says, in the customer's language, about the one it understands.
ONLY_UNDERSTANDS = {
    "en": "Note: I only understand {language}, the language of our FAQ. Please write in "
    "{language}, or ask for a human.",
    "de": "Hinweis: Ich verstehe nur {language}, die Sprache unserer FAQ. Bitte schreiben Sie "
    "auf {language} oder fragen Sie nach einem Menschen.",
    "fr": "Remarque : je ne comprends que {language}, la langue de notre FAQ. Merci d'écrire "
    "dans cette langue, ou demandez à parler à un humain.",
    "es": "Nota: solo entiendo {language}, el idioma de nuestras preguntas frecuentes. "
    "Escribe en {language} o pide hablar con una persona.",
}
NAMES_IN = {
    "de": {"en": "Englisch", "de": "Deutsch", "fr": "Französisch", "es": "Spanisch"},
    "fr": {"en": "l'anglais", "de": "l'allemand", "fr": "le français", "es": "l'espagnol"},
    "es": {"en": "inglés", "de": "alemán", "fr": "francés", "es": "español"},
}
WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
MIN_HITS = 2


def language_guess(text: str) -> str | None:
    """ "de", "fr", ... when at least two common words point clearly at one language, else None."""
    words = [w.lower() for w in WORD.findall(text or "")]
    hits = {code: sum(w in stopwords for w in words) for code, stopwords in STOPWORDS.items()}
    ranked = sorted(hits.items(), key=lambda item: item[1], reverse=True)
    (best, count), (_, runner_up) = ranked[0], ranked[1]
    return best if count >= MIN_HITS and count > runner_up else None


def language_note(*, customer_text: str, understood: str = "en") -> str:
    """The line the offline engine adds when the customer writes in a language it cannot read."""
    language = language_guess(customer_text)
    if language is None or language == understood:
        return ""
    template = ONLY_UNDERSTANDS.get(language, ONLY_UNDERSTANDS["en"])
    name = NAMES_IN.get(language, LANGUAGE_NAMES).get(understood, understood)
    return template.format(language=name)
