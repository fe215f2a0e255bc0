"""Prices per model, applied to reported usage."""

from decimal import Decimal

from conversations.engine.pricing import cost_usd, model_spec


def test_gpt_4o_mini_list_prices():
    assert cost_usd(model="gpt-4o-mini", prompt_tokens=1_000_000, completion_tokens=0) == Decimal(
        "0.15"
    )
    assert cost_usd(model="gpt-4o-mini", prompt_tokens=0, completion_tokens=1_000_000) == Decimal(
        "0.60"
    )


def test_cached_input_is_billed_at_its_discount():
    cost = cost_usd(
        model="gpt-4.1-mini", prompt_tokens=1_000_000, cached_tokens=1_000_000, completion_tokens=0
    )
    assert cost == Decimal("0.10")
    nano = cost_usd(
        model="gpt-4.1-nano", prompt_tokens=2000, cached_tokens=1000, completion_tokens=1000
    )
    assert nano == Decimal("0.00052500")  # 1000 x 0.10 + 1000 x 0.025 + 1000 x 0.40, per M


def test_snapshots_windows_and_unknown_models():
    assert model_spec("gpt-4o-mini-2024-07-18").name == "gpt-4o-mini"
    assert model_spec("gpt-4o-mini").context_window == 128_000
    assert model_spec("gpt-4.1-nano").context_window == 1_047_576
    assert model_spec("gpt-4.1-mini").max_output_tokens == 32_768
    assert cost_usd(model="llama3.1:8b", prompt_tokens=10**6, completion_tokens=10**6) == 0
