"""HuggingFace sequence-classification models as teachers, TAs and students.

A text model is named by a HuggingFace hub id or a local folder, or by a preset registered in
:data:`akd.registry.TEXT_MODELS`, optionally followed by ``#layers=N`` to keep only its first N
transformer layers (``AutoConfig``'s ``num_hidden_layers``: a pretrained 6-layer model becomes a
4- or 2-layer one with the same embeddings and tokenizer). The classification head has
``num_labels`` outputs, one for regression. :class:`SequenceClassifier` wraps the model so that
``model(inputs)`` returns the logits, like every other model of the suite.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from akd.errors import AkdError
from akd.registry import TEXT_MODELS

SUFFIX = re.compile(r"(.*)#layers=(\d+)")


class SequenceClassifier(nn.Module):
    def __init__(self, hf: nn.Module) -> None:
        super().__init__()
        self.hf = hf

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.hf(**inputs).logits


def resolve(name: str) -> tuple[str, dict[str, int]]:
    """(path or hub id, config overrides) for a model name, a preset or ``name#layers=N``."""
    overrides: dict[str, int] = {}
    match = SUFFIX.fullmatch(name)
    if match:
        name, overrides["num_hidden_layers"] = match.group(1), int(match.group(2))
    if name in TEXT_MODELS:
        inner, more = resolve(TEXT_MODELS.get(name)())
        return inner, more | overrides
    return name, overrides


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.set_verbosity_error()  # "some weights were newly initialised": the head, as intended


def load_tokenizer(name: str):  # noqa: ANN201
    from transformers import AutoTokenizer

    _quiet_transformers()
    path, _ = resolve(name)
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise AkdError(f"cannot load the tokenizer of {name!r} ({_why(exc)}); {_hint(path)}") from None


def build_text_model(name: str, num_labels: int) -> SequenceClassifier:
    """A sequence classifier with ``num_labels`` outputs (1 = regression) from ``name``."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    _quiet_transformers()
    path, overrides = resolve(name)
    kind = {"problem_type": "regression"} if num_labels == 1 else {}
    try:
        config = AutoConfig.from_pretrained(path, num_labels=num_labels, **kind, **overrides)
        model = AutoModelForSequenceClassification.from_pretrained(path, config=config)
    except (OSError, ValueError) as exc:
        raise AkdError(f"cannot load model {name!r} ({_why(exc)}); {_hint(path)}") from None
    except RuntimeError as exc:  # a fine-tuned head of another size
        raise AkdError(f"model {name!r} does not fit {num_labels} output(s): {_why(exc)}") from None
    return SequenceClassifier(model)


def _why(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def _hint(path: str) -> str:
    if Path(path).expanduser().exists():
        return "the folder must hold a HuggingFace model (config.json, weights, tokenizer files)"
    return "name a local folder, or a hub id on a machine with internet (HF_HUB_OFFLINE=1 forbids downloads)"
