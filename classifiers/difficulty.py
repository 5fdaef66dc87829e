"""The difficulty estimator: the score of a prompt, P(weak wrong AND strong right).

The score (``training.labels`` defines it, the model card repeats it) is the probability that the
cheapest tier's setting (a cheap model, no thinking) answers the prompt wrong while a stronger
model or a bigger thinking budget answers it right. Every expert below estimates that one quantity,
so mixing them is sound.

A single regression over every kind of prompt learns mostly *between*-kind differences (chat is
easy, olympiad maths is hard) and drowns the weaker *within*-kind signal that routing depends on
(which MMLU question the cheap model misses but the strong one gets). So the estimator is a small
mixture of experts over the input ``X`` (embedding + text features, see ``classifiers.features``):

- a gate, a multinomial logistic regression, gives P(group | x) over ``GROUPS``;
- each group has its own expert, fitted only on that group's rows. Where rows carry observed 0/1
  outcomes of the event itself (the ``knowledge`` group: MMLU, Mixtral wrong and GPT-4 right), the
  expert averages two estimates of its probability: a logistic regression on the outcome, and the
  topic route, P(topic | x) times each topic's rate of the event (topics such as MMLU subjects
  differ far more in how much a stronger model helps than prompts within one topic do). The other
  groups are ridge regressions on the target that ``training.labels`` builds (observed, graded,
  table or prior; rows whose target is NaN teach the gate only). A ``general_group``, if named, is
  fitted on *every* row with a target (versions before the seed data had real hard requests
  fitted chat that way); by default none is: with Arena-Hard in the data, chat fitted on its own
  rows separated hard requests from everyday chat better on the select split (AUROC 0.90 against
  0.86);
- ``predict`` returns sum_g P(g | x) * expert_g(x), clipped to [0, 1].

An outcome expert standardises its input over its own rows, so that its regularisation is measured
against the variation within its group rather than across every kind of prompt. Where the rows'
texts are given to ``fit`` and ``lexical_c`` is set, it also fits a
``classifiers.lexical.LexicalGain`` on them, and ``predict_text`` averages that in as a third
estimate; ``predict`` (from ``X`` alone, as when retraining on logged rows, which keep no text)
leaves it out. By default ``lexical_c`` is None: on the select split the TF-IDF estimate lowered
MMLU APGR (0.662 without it, 0.651 with it) and moved no other proxy; versions saved with one
keep using it.

A version retrained from the decision log is its base with a ``classifiers.correction.Correction``
added (``with_correction``): scores then go through each correction in turn, which changes them
only where the logged traffic lies.

``fit(X, y)`` takes ``y`` of shape (n, 4): the group index, the target in [0, 1] (NaN: none), the
observed outcome (1: weak wrong and strong right, 0: not; NaN where the row has no observed
outcomes) and a topic index (or NaN). Versions saved before this definition learned the net class
{-1, 0, +1} and predict P(+1) - P(-1); ``net_gain`` reads both.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from classifiers.correction import Correction
from classifiers.lexical import LexicalGain, linear_softmax, net_gain
from classifiers.targets import GAIN_COLUMN as GAIN_COLUMN
from classifiers.targets import GROUP_COLUMN as GROUP_COLUMN
from classifiers.targets import GROUPS as GROUPS
from classifiers.targets import OUTCOME_COLUMN as OUTCOME_COLUMN
from classifiers.targets import TOPIC_COLUMN as TOPIC_COLUMN

# the target row's layout lives in classifiers.targets (no scikit-learn there)
TARGET_COLUMNS = 4

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ConstantExpert:
    value: float

    def gain(self, Z: FloatArray, lexical: FloatArray | None = None) -> FloatArray:
        return np.full(len(Z), self.value)


@dataclass(frozen=True)
class RidgeExpert:
    model: Ridge

    def gain(self, Z: FloatArray, lexical: FloatArray | None = None) -> FloatArray:
        linear: FloatArray = Z @ self.model.coef_ + self.model.intercept_
        return np.clip(linear, 0.0, 1.0)


@dataclass(frozen=True)
class OutcomeExpert:
    """P(weak wrong and strong right) from observed outcomes, by prompt and by topic.

    The models learn the net outcome class (strong - weak in {-1, 0, +1}) and rank prompts by
    its expectation, P(+1) - P(-1): a prompt the strong model might also get *wrong* where the
    weak one is right ranks lower, which is what routing by the score gains from. ``calibration``
    (a logistic map, monotone, fitted on estimates for rows the models were not fitted on) then
    turns that ranking into the score's quantity, P(+1).
    """

    outcome_model: LogisticRegression
    topic_model: LogisticRegression | None
    topic_gain: FloatArray
    # None in versions saved before experts standardised over their own rows.
    rescale: StandardScaler | None = None
    # (slope, intercept) of the map to P(+1); None in versions that predicted the net gain.
    calibration: tuple[float, float] | None = None

    def gain(self, Z: FloatArray, lexical: FloatArray | None = None) -> FloatArray:
        """The mean of the estimates at hand, each weighing the same; ``lexical`` is one of them."""
        mean = self.net(Z, lexical)
        if self.calibration is not None:
            slope, intercept = self.calibration
            return np.asarray(expit(slope * mean + intercept), dtype=np.float64)
        return np.clip(mean, 0.0, 1.0)

    def net(self, Z: FloatArray, lexical: FloatArray | None = None) -> FloatArray:
        """E[strong - weak]: the mean of the embedding, topic (and lexical) estimates."""
        if self.rescale is not None:
            Z = (Z - self.rescale.mean_) / self.rescale.scale_
        estimates = [_net_gain(self.outcome_model, Z)]
        if self.topic_model is not None:
            estimates.append(linear_proba(self.topic_model, Z) @ self.topic_gain)
        if lexical is not None:
            estimates.append(lexical)
        mean: FloatArray = np.mean(estimates, axis=0)
        return mean


Expert = ConstantExpert | RidgeExpert | OutcomeExpert


def linear_proba(model: LogisticRegression, Z: FloatArray) -> FloatArray:
    """``model.predict_proba(Z)`` from its coefficients, without scikit-learn's per-call checks.

    Scoring one prompt goes through five fitted linear models; their input checks cost ten times
    the arithmetic (0.7 ms against 0.07 ms), and ``predict`` has already validated ``X`` once.
    """
    if len(model.classes_) == 1:
        return np.ones((len(Z), 1))
    return linear_softmax(Z @ model.coef_.T + model.intercept_)


def _net_gain(model: LogisticRegression, Z: FloatArray) -> FloatArray:
    return net_gain(linear_proba(model, Z), model.classes_)


class DifficultyEstimator(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Mixture of per-group experts; see the module docstring."""

    def __init__(
        self,
        gate_c: float = 0.1,
        outcome_c: float = 0.003,
        topic_c: float = 0.03,
        ridge_alpha: float = 100.0,
        min_group_rows: int = 20,
        general_group: str | None = None,
        lexical_c: float | None = None,
    ) -> None:
        self.gate_c = gate_c
        self.outcome_c = outcome_c
        self.topic_c = topic_c
        self.ridge_alpha = ridge_alpha
        self.min_group_rows = min_group_rows
        self.general_group = general_group
        self.lexical_c = lexical_c

    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        texts: Sequence[str] | None = None,
        lexical: Mapping[int, LexicalGain] | None = None,
    ) -> Self:
        """Fit on ``X`` and ``y`` (see the module docstring).

        ``texts``, one per row, fit each outcome expert's ``LexicalGain``; ``lexical`` instead
        carries fitted ones over (from the version this one retrains, when rows have no text).
        """
        X = validate_data(self, X, dtype=np.float64)
        y = check_array(y, ensure_all_finite="allow-nan", dtype=np.float64)
        if y.shape != (len(X), TARGET_COLUMNS):
            raise ValueError(
                f"y must have shape (n, {TARGET_COLUMNS}) = (group, gain, outcome, topic);"
                f" got {y.shape}"
            )
        if texts is not None and len(texts) != len(X):
            raise ValueError(f"{len(texts)} texts for {len(X)} rows of X")
        weights = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        groups = y[:, GROUP_COLUMN].astype(int)
        self.gate_ = self._fit_gate(Z, groups, weights)
        self.experts_: dict[int, Expert] = {
            int(g): self._fit_expert(int(g), groups, Z, y, weights) for g in self.gate_.classes_
        }
        self.corrections_: tuple[Correction, ...] = ()
        if lexical is not None:
            self.lexical_ = dict(lexical)
        else:
            self.lexical_ = self._fit_lexical(texts, groups, y, weights)
        return self

    def predict(self, X: Any) -> FloatArray:
        """Scores from ``X`` alone: without the lexical estimates, which need the texts."""
        check_is_fitted(self)
        Z = self._standardised(X)
        return self._corrected(self._mix(Z, {}), Z)

    def predict_text(self, texts: Sequence[str], X: Any) -> FloatArray:
        """Scores of ``texts``, whose rows of ``X`` are given, with the lexical estimates."""
        check_is_fitted(self)
        Z = self._standardised(X)
        if len(texts) != len(Z):
            raise ValueError(f"{len(texts)} texts for {len(Z)} rows of X")
        lexical = {group: model.gain(texts) for group, model in self.lexical_models().items()}
        return self._corrected(self._mix(Z, lexical), Z)

    def predict_uncorrected(self, X: Any) -> FloatArray:
        """``predict`` before the corrections retraining added (``classifiers.correction``)."""
        check_is_fitted(self)
        return self._mix(self._standardised(X), {})

    def corrections(self) -> tuple[Correction, ...]:
        """The corrections fitted on logged outcomes, oldest first; none in a seed version."""
        return tuple(getattr(self, "corrections_", ()))

    def with_correction(self, correction: Correction) -> DifficultyEstimator:
        """A copy of this fitted estimator whose scores then go through ``correction``."""
        check_is_fitted(self)
        corrected = copy.copy(self)
        corrected.corrections_ = (*self.corrections(), correction)
        return corrected

    def standardised(self, X: Any) -> FloatArray:
        """``X`` as the experts and corrections read it (checked, standardised)."""
        check_is_fitted(self)
        return self._standardised(X)

    def _corrected(self, scores: FloatArray, Z: FloatArray) -> FloatArray:
        for correction in self.corrections():
            scores = correction.apply(scores, Z)
        return np.clip(scores, 0.0, 1.0)

    def lexical_models(self) -> dict[int, LexicalGain]:
        """The fitted ``LexicalGain`` of each outcome expert's group; none in a version saved
        before they existed (it has no ``lexical_``)."""
        check_is_fitted(self)
        return dict(getattr(self, "lexical_", {}))

    def _mix(self, Z: FloatArray, lexical: Mapping[int, FloatArray]) -> FloatArray:
        gate = linear_proba(self.gate_, Z)
        gains = np.column_stack(
            [self.experts_[int(g)].gain(Z, lexical.get(int(g))) for g in self.gate_.classes_]
        )
        return np.clip(np.asarray((gate * gains).sum(axis=1), dtype=np.float64), 0.0, 1.0)

    def predict_groups(self, X: Any) -> FloatArray:
        """P(group | x), one column per fitted group index in ``gate_.classes_``."""
        check_is_fitted(self)
        return linear_proba(self.gate_, self._standardised(X))

    def _standardised(self, X: Any) -> FloatArray:
        # The checks validate_data makes that matter here, at a tenth of its 0.2 ms per call:
        # that was as much as the rest of a short prompt's classifier and policy together.
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has shape {X.shape}; {type(self).__name__} was fitted on"
                f" {self.n_features_in_} features per row"
            )
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinity")
        return np.asarray((X - self.scaler_.mean_) / self.scaler_.scale_, dtype=np.float64)

    def _fit_gate(
        self, Z: FloatArray, groups: NDArray[np.int_], weights: FloatArray
    ) -> LogisticRegression:
        """P(group | x); data of one group (a user's rows without domains) gets a gate that
        always answers that group, which ``linear_proba`` reads as probability 1."""
        gate = LogisticRegression(C=self.gate_c, max_iter=3000)
        present = np.unique(groups)
        if len(present) > 1:
            return gate.fit(Z, groups, sample_weight=weights)
        gate.classes_ = present
        gate.coef_ = np.zeros((1, Z.shape[1]))
        gate.intercept_ = np.zeros(1)
        gate.n_features_in_ = Z.shape[1]
        return gate

    def _fit_expert(
        self,
        group: int,
        groups: NDArray[np.int_],
        Z: FloatArray,
        y: FloatArray,
        weights: FloatArray,
    ) -> Expert:
        if GROUPS[group] == self.general_group:
            return self._fit_ridge(np.ones(len(Z), dtype=bool), Z, y, weights)
        rows = groups == group
        labelled = rows & ~np.isnan(y[:, OUTCOME_COLUMN])
        if labelled.sum() >= self.min_group_rows:
            return self._fit_outcome_expert(Z[labelled], y[labelled], weights[labelled])
        return self._fit_ridge(rows, Z, y, weights)

    def _fit_lexical(
        self,
        texts: Sequence[str] | None,
        groups: NDArray[np.int_],
        y: FloatArray,
        weights: FloatArray,
    ) -> dict[int, LexicalGain]:
        if texts is None or self.lexical_c is None:
            return {}
        fitted: dict[int, LexicalGain] = {}
        for group, expert in self.experts_.items():
            if not isinstance(expert, OutcomeExpert):
                continue
            rows = np.flatnonzero((groups == group) & ~np.isnan(y[:, OUTCOME_COLUMN]))
            model = LexicalGain(c=self.lexical_c)
            outcomes = y[rows, OUTCOME_COLUMN].astype(int)
            fitted[group] = model.fit([texts[int(i)] for i in rows], outcomes, weights[rows])
        return fitted

    def _fit_ridge(
        self, rows: NDArray[np.bool_], Z: FloatArray, y: FloatArray, weights: FloatArray
    ) -> Expert:
        rows = rows & ~np.isnan(y[:, GAIN_COLUMN])
        if rows.sum() < self.min_group_rows:
            mean = np.average(y[rows, GAIN_COLUMN], weights=weights[rows]) if rows.any() else 0.0
            return ConstantExpert(float(mean))
        model = Ridge(alpha=self.ridge_alpha).fit(Z[rows], y[rows, GAIN_COLUMN], weights[rows])
        return RidgeExpert(model)

    def _fit_outcome_expert(self, Z: FloatArray, y: FloatArray, weights: FloatArray) -> Expert:
        """The expert on all of ``Z``, calibrated on two-fold cross-fitted estimates."""
        expert = self._outcome_models(Z, y, weights)
        halves = np.arange(len(Z)) % 2
        net = np.empty(len(Z))
        for half in (0, 1):
            part = self._outcome_models(
                Z[halves != half], y[halves != half], weights[halves != half]
            )
            net[halves == half] = part.net(Z[halves == half])
        event = y[:, GAIN_COLUMN]
        if len(np.unique(event)) < 2:
            return expert
        fitted = LogisticRegression(C=1e4, max_iter=1000)
        fitted.fit(net[:, None], event.astype(int), sample_weight=weights)
        calibration = (float(fitted.coef_[0, 0]), float(fitted.intercept_[0]))
        return dataclasses.replace(expert, calibration=calibration)

    def _outcome_models(self, Z: FloatArray, y: FloatArray, weights: FloatArray) -> OutcomeExpert:
        rescale = StandardScaler().fit(Z)
        Z = rescale.transform(Z)
        outcomes = y[:, OUTCOME_COLUMN].astype(int)
        outcome_model = LogisticRegression(C=self.outcome_c, max_iter=3000)
        outcome_model.fit(Z, outcomes, sample_weight=weights)
        topics = y[:, TOPIC_COLUMN]
        known = ~np.isnan(topics)
        if len(np.unique(topics[known])) < 2:
            return OutcomeExpert(outcome_model, None, np.zeros(0), rescale)
        topic_model = LogisticRegression(C=self.topic_c, max_iter=3000)
        topic_model.fit(Z[known], topics[known].astype(int), sample_weight=weights[known])
        net = y[known, OUTCOME_COLUMN]
        topic_ids = topics[known].astype(int)
        topic_gain = np.array(
            [
                np.average(net[topic_ids == t], weights=weights[known][topic_ids == t])
                for t in topic_model.classes_
            ]
        )
        return OutcomeExpert(outcome_model, topic_model, topic_gain, rescale)
