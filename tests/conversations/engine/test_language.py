"""Guessing the customer's language from common words, and the offline engine's note about it."""

import pytest

from conversations.engine.language import language_guess, language_note


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Where is my order #D1001?", "en"),
        ("Wo ist meine Bestellung #D1001?", "de"),
        ("Ich möchte die Tasse zurückgeben, geht das?", "de"),
        ("Où est ma commande ?", "fr"),
        ("¿Dónde está mi pedido?", "es"),
        ("Hallo", None),  # one word is not enough to tell
        ("#D1001 demo@example.com", None),
        ("", None),
    ],
)
def test_the_language_is_guessed_from_common_words(text, expected):
    assert language_guess(text) == expected


def test_the_note_is_in_the_customers_language_and_names_the_faqs():
    assert language_note(customer_text="Where is my order?") == ""
    assert language_note(customer_text="Hallo") == ""  # unsure: no note
    german = language_note(customer_text="Wo ist meine Bestellung?")
    assert german.startswith("Hinweis: Ich verstehe nur Englisch")
    assert "Ouvrez" not in german and "Menschen" in german
    assert "l'anglais" in language_note(customer_text="Où est ma commande ?")
    assert "inglés" in language_note(customer_text="¿Dónde está mi pedido?")
    # A FAQ in German: German customers get no note, English ones are told in English.
    assert language_note(customer_text="Wo ist meine Bestellung?", understood="de") == ""
    assert language_note(customer_text="Where is my order?", understood="de").startswith(
        "Note: I only understand German"
    )
