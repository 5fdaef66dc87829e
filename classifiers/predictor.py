"""What the scorer and the artifact store expect of a fitted estimator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from numpy.typing import NDArray

__all__ = ["Predictor", "TextPredictor"]


class Predictor(Protocol):
    """A fitted estimator, scikit-learn style: one number per row of ``X``."""

    def predict(self, X: NDArray[Any]) -> Any: ...


@runtime_checkable
class TextPredictor(Predictor, Protocol):
    """A ``Predictor`` that also reads the texts its rows of ``X`` were built from."""

    def predict_text(self, texts: Sequence[str], X: NDArray[Any]) -> Any: ...
