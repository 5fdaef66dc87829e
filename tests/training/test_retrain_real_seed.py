"""The closed loop on real seed data: logged outcomes teach a domain the base never saw
labelled, and the gate refuses a candidate trained on shuffled outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.artifacts.versions import read_current
from tests.training.seed_fixtures import (
    TIERS,
    LookupEncoder,
    RealSeed,
    mmlu_export,
    mmlu_world,
    real_seed,
)
from training import gate as gate_module
from training.retrain import retrain

__all__ = ["real_seed"]  # the module-scoped fixture, from seed_fixtures


@pytest.mark.slow
def test_closed_loop_logged_outcomes_teach_a_domain_the_base_never_saw_labelled(
    tmp_path: Path, real_seed: RealSeed
) -> None:
    models, seed_file, traffic, scores = mmlu_world(
        real_seed, tmp_path, base_sees_mmlu_outcomes=False
    )
    export = mmlu_export(tmp_path / "export.jsonl", real_seed, traffic, scores)

    result = retrain(
        export,
        models,
        seed_data=seed_file,
        encoder=LookupEncoder(real_seed.embeddings),
        tiers=TIERS,
        version="with-logs",
    )

    domain = result.gate.row("seed:auroc_weak_model_fails")
    print(
        f"\nMMLU validation rows (n={domain.n}), AUROC for 'the weak model fails':"
        f" before {domain.base:.3f}, after {domain.candidate:.3f};"
        f" held-out logs: {result.gate.row(gate_module.AUROC).base:.3f}"
        f" -> {result.gate.row(gate_module.AUROC).candidate:.3f}\n{result.gate.reason}"
    )
    assert result.promoted, result.gate.reason
    assert read_current(models) == "with-logs"
    assert domain.base is not None and domain.candidate is not None
    assert domain.candidate > domain.base + 0.03


@pytest.mark.slow
def test_the_gate_refuses_a_candidate_trained_on_shuffled_real_outcomes(
    tmp_path: Path, real_seed: RealSeed
) -> None:
    models, seed_file, traffic, scores = mmlu_world(
        real_seed, tmp_path, base_sees_mmlu_outcomes=True
    )
    export = mmlu_export(tmp_path / "e.jsonl", real_seed, traffic, scores, shuffle_before=1600)

    result = retrain(
        export,
        models,
        seed_data=seed_file,
        encoder=LookupEncoder(real_seed.embeddings),
        tiers=TIERS,
        version="shuffled",
    )

    print(f"\n{result.gate.reason}")
    assert not result.promoted
    assert result.gate.row(gate_module.AUROC).verdict in {"not better", "not reliably better"}
    assert read_current(models) == "seed"
