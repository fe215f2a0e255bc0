"""What each model costs and how much it can read and write (list prices, USD)."""

from dataclasses import dataclass
from decimal import Decimal

MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    input_per_million: Decimal
    cached_input_per_million: Decimal
    output_per_million: Decimal
    context_window: int
    max_output_tokens: int


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "gpt-4o-mini", Decimal("0.15"), Decimal("0.075"), Decimal("0.60"), 128_000, 16_384
        ),
        ModelSpec(
            "gpt-4.1-mini", Decimal("0.40"), Decimal("0.10"), Decimal("1.60"), 1_047_576, 32_768
        ),
        ModelSpec(
            "gpt-4.1-nano", Decimal("0.10"), Decimal("0.025"), Decimal("0.40"), 1_047_576, 32_768
        ),
        # The offline engine runs on this machine: it reads and writes for free.
        ModelSpec("offline", Decimal(0), Decimal(0), Decimal(0), 128_000, 16_384),
    ]
}
# A model served elsewhere (OPENAI_BASE_URL: vLLM, Ollama...) and not in the table is priced
# at zero and budgeted like gpt-4o-mini.
UNKNOWN = ModelSpec("unknown", Decimal(0), Decimal(0), Decimal(0), 128_000, 16_384)


def model_spec(model: str) -> ModelSpec:
    if model in MODELS:
        return MODELS[model]
    # Dated snapshots ("gpt-4o-mini-2024-07-18") cost what their family costs.
    for name in sorted(MODELS, key=len, reverse=True):
        if model.startswith(name + "-"):
            return MODELS[name]
    return UNKNOWN


def cost_usd(
    *, model: str, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
) -> Decimal:
    """The price of one call; cached prompt tokens (part of prompt_tokens) at their discount."""
    spec = model_spec(model)
    cached = min(max(cached_tokens, 0), prompt_tokens)
    total = (
        (prompt_tokens - cached) * spec.input_per_million
        + cached * spec.cached_input_per_million
        + completion_tokens * spec.output_per_million
    ) / MILLION
    return total.quantize(Decimal("0.00000001"))
