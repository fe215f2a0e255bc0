"""The embedder interface: the local model, the OpenAI-compatible endpoint, stored vectors."""

import numpy as np
import pytest
from django.test import override_settings

from conversations.knowledge import embedding
from conversations.knowledge.embedding import (
    CachedEmbedder,
    LocalEmbedder,
    OpenAIEmbedder,
    embed_texts,
    embedder_for,
)
from conversations.knowledge.index import (
    VectorIndex,
    faq_entry_vectors,
    faq_vectors_refresh,
    vectors_pack,
    vectors_unpack,
)
from conversations.models import FaqEntry


def test_local_embedder_rows_are_normalised_and_close_for_paraphrases():
    vectors = LocalEmbedder().embed(
        ["How long does shipping take?", "how long will delivery take", "Can I pay with PayPal?"]
    )
    assert vectors.shape == (3, LocalEmbedder().dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_embed_texts_uses_the_configured_backend():
    with override_settings(SUPPORTBOT_EMBEDDING_BACKEND="local"):
        assert embedder_for().name == LocalEmbedder.name
        assert embed_texts(["a refund"]).shape == (1, LocalEmbedder().dim)
    with override_settings(SUPPORTBOT_EMBEDDING_BACKEND="off"):
        assert embedder_for() is None
        with pytest.raises(embedding.EmbeddingError):
            embed_texts(["x"])


def test_openai_embedder_batches_and_caches_by_content(openai_server):
    with override_settings(OPENAI_BASE_URL=openai_server.base_url, OPENAI_API_KEY="k"):
        embedder = CachedEmbedder(OpenAIEmbedder(model="text-embedding-3-small", batch_size=2))
        first = embedder.embed(["refund policy", "shipping time", "refund policy", "gift cards"])
        again = embedder.embed(["gift cards", "shipping time"])
    calls = [r for r in openai_server.requests if r.path.endswith("/embeddings")]
    # Three distinct texts in batches of two; the repeat and the second call come from cache.
    assert [len(r.body["input"]) for r in calls] == [2, 1]
    assert {r.body["model"] for r in calls} == {"text-embedding-3-small"}
    assert first.shape == (4, openai_server.embedding_dim)
    assert np.allclose(first[0], first[2])
    assert np.allclose(again[0], first[3])
    assert embedder.name == "openai:text-embedding-3-small"


def test_openai_embedder_failure_is_an_embedding_error():
    with (
        override_settings(OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_MAX_RETRIES=0),
        pytest.raises(embedding.EmbeddingError),
    ):
        OpenAIEmbedder(model="m").embed(["x"])


def test_pack_round_trip_and_index_keeps_each_owners_best():
    vectors = LocalEmbedder().embed(["returns", "send it back", "shipping", "delivery time"])
    assert np.array_equal(vectors_unpack(vectors_pack(vectors), rows=4), vectors)
    index = VectorIndex([10, 20], [vectors[:2], vectors[2:]])
    hits = index.search(LocalEmbedder().embed(["delivery time please"])[0], limit=2)
    assert [h.owner for h in hits] == [20, 10]
    assert hits[0].row == 1
    assert index.owner_scores(vectors[0])[0] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.django_db
def test_vectors_are_stored_and_recomputed_when_phrasings_change(bot):
    entry = FaqEntry.objects.create(
        bot=bot,
        question="How long does shipping take?",
        answer="3-5 days",
        alternatives=["When will it arrive?"],
    )
    FaqEntry.objects.filter(pk=entry.pk).update(embedding=b"", embedding_hash="")
    assert faq_vectors_refresh(bot_id=bot.pk) == 1
    assert faq_vectors_refresh(bot_id=bot.pk) == 0
    entry.refresh_from_db()
    embedder = embedder_for()
    dim = embedder.embed(["x"]).shape[1]
    assert faq_entry_vectors(entry, embedder=embedder).shape == (2, dim)
    assert entry.embedding_model == embedder.name
    entry.alternatives = ["When will it arrive?", "delivery times"]
    entry.save()
    entry.refresh_from_db()
    assert faq_entry_vectors(entry, embedder=embedder) is None
    assert faq_vectors_refresh(bot_id=bot.pk) == 1


@pytest.mark.django_db(transaction=True)
def test_saving_an_entry_embeds_it_after_commit(bot, eager_tasks):
    entry = FaqEntry.objects.create(bot=bot, question="Do you ship abroad?", answer="Yes.")
    entry.refresh_from_db()
    assert faq_entry_vectors(entry, embedder=embedder_for()) is not None
