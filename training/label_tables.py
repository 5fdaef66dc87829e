"""Constants the labelling rules (``training.labels``) read: models, accuracies, priors.

Everything here is in the score's one unit, P(the cheapest tier's setting answers wrong AND a
stronger model or a bigger thinking budget answers right), or names the models that stand for
"cheapest tier" and "stronger" in a source's outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping

# --- MMLU (RouteLLM): observed 0/1 outcomes of one weak and one strong model ---
WEAK_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG_MODEL = "gpt-4-1106-preview"

# --- RouterBench (rb11_correct): 0/1 outcomes of 11 models ---
# The three strongest of the eleven stand for "a stronger model"; the other eight for the cheap
# tier.
RB_STRONG_MODELS: tuple[str, ...] = ("gpt-4-1106-preview", "claude-v2", "claude-v1")

# --- arena-bench v1 (judge_scores): GPT-4's 1-10 grade of 15 models' answers ---
JUDGE_WEAK_MODELS: tuple[str, ...] = (
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "gpt-3.5-turbo",
    "gpt-3.5-turbo-1106",
    "claude-instant-1",
)
JUDGE_STRONG_MODELS: tuple[str, ...] = ("gpt-4-1106-preview", "gpt-4-0314")
JUDGE_RIGHT = 8.0  # a grade of 8 or more out of 10 counts as a right answer

# --- LiveCodeBench (pass_at_1, 0-100): cheap non-thinking models vs the strongest settings ---
LCB_WEAK_MODELS: tuple[str, ...] = ("GPT-4O-mini-2024-07-18", "Claude-3-Haiku")
LCB_STRONG_MODELS: tuple[str, ...] = (
    "O3-Mini-2025-01-31 (High)",
    "O4-Mini (High)",
    "Gemini-2.5-Pro",
    "Grok-3-Mini (High)",
    "Claude-3.7-Sonnet (Thinking)",
)
LCB_LOW_EFFORT: tuple[str, ...] = ("O3-Mini-2025-01-31 (Low)", "O4-Mini (Low)")
LCB_HIGH_EFFORT: tuple[str, ...] = ("O3-Mini-2025-01-31 (High)", "O4-Mini (High)")
LCB_DIFFICULTY: Mapping[str, int] = {"easy": 0, "medium": 1, "hard": 2}

# --- rdc7_scores: seven ~7B models; the cheap tier and the strong model by published accuracy ---
# (cheap tier = Mixtral-8x7B class, strong = GPT-4 class), per source: the share each answers right.
# GSM8K: Mixtral-8x7B 0.58-0.74 (Mistral AI, 2024), GPT-4 0.92 (OpenAI, 2023); HumanEval: Mixtral
# 0.40, GPT-4 0.67; ARC: Mixtral 0.83 (Easy), GPT-4 0.96.
RDC7_ACCURACY: Mapping[str, tuple[float, float]] = {
    "gsm8k": (0.70, 0.92),
    "humaneval": (0.40, 0.67),
    "arc_easy": (0.83, 0.96),
    "arc_challenge": (0.60, 0.96),
    "routellm_mmlu": (0.68, 0.81),
}
RDC7_GENERATIVE = frozenset(
    {"gsm8k", "humaneval"}
)  # pass rates; elsewhere gold-option probabilities

# --- MATH levels: a table from published per-level accuracy ---
# Non-thinking chat models answer about 0.75 of level 1 down to 0.15 of level 5, reasoning models
# 0.98 down to 0.88; with the strong model's failures inside the weak one's, the gain is the gap.
MATH_LEVEL_GAIN: Mapping[int, float] = {1: 0.25, 2: 0.37, 3: 0.5, 4: 0.62, 5: 0.75}

# --- priors: only for rows that carry no outcome at all ---
DOMAIN_PRIOR: Mapping[str, float] = {
    "smalltalk_simple": 0.0,
    "factoid": 0.06,
    "everyday_chat": 0.12,
    "easy_arith": 0.06,
    "competition_math": 0.5,
    "science_mc": 0.12,
    "commonsense_mc": 0.2,
    "code": 0.35,
    "knowledge_mc": 0.12,
}
SOURCE_PRIOR: Mapping[str, float] = {
    "oasst1": 0.15,
    "anthropic_hh_helpful_base": 0.1,
    "self_instruct_seed": 0.1,
    "mbpp": 0.35,
}
VICUNA_CATEGORY_PRIOR: Mapping[str, float] = {
    "math": 0.5,
    "coding": 0.45,
    "fermi": 0.35,
    "counterfactual": 0.15,
    "common-sense": 0.12,
    "knowledge": 0.12,
    "generic": 0.1,
    "writing": 0.1,
    "roleplay": 0.08,
}
# Arena-Hard v2 (set membership: real requests selected as hard). Anchored on arena-bench v1, the
# one source of per-prompt outcomes on real chat: its technical requests (code, maths) have a mean
# label of about 0.5, and the hard ones selected from the same traffic sit above that. Creative
# writing: a stronger model writes better (escalation, in the definition), but a thinking budget
# adds little, so it sits between everyday chat and technical requests, above the cheapest tier.
ARENA_HARD_PRIOR: Mapping[str, float] = {"coding": 0.6, "math": 0.6, "creative_writing": 0.35}
