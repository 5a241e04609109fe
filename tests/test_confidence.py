"""The generator's confidence: each generated token's log-probability, without a log-softmax per step."""

import numpy as np
import pytest

from tenantctl.models.generation import _Confidence

VOCAB = 262_144  # Gemma 3's


def _old_logprob(scores: np.ndarray, token: int) -> float:
    """What _Confidence computed before: the whole vocabulary's log-softmax, then the chosen token's."""
    top = scores.max()
    return float((scores - (top + np.log(np.exp(scores - top).sum())))[token])


def test_each_token_s_log_probability_is_the_log_softmax_s_to_1e_6():
    """Random logits, passed as llama-cpp-python passes them (a strided view of one buffer it refills every
    step): large ones (that exp would overflow without the shift), an unlikely and the likeliest token."""
    rng = np.random.default_rng(7)
    cells = np.zeros(VOCAB, np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True))
    steps = [(rng.standard_normal(VOCAB) * scale + shift).astype(np.float32)
             for scale, shift in [(3, 0), (8, 120), (1, -30), (5, 10), (20, 0)]]
    chosen = [int(np.argmax(steps[0])), int(rng.integers(VOCAB)), 0, int(np.argsort(steps[3])[VOCAB // 2]),
              int(np.argmin(steps[4]))]
    noted, ids = _Confidence(), [2]
    for logits, token in zip(steps, chosen, strict=True):
        cells["logit"] = logits
        assert noted(np.array(ids), cells["logit"]) is not None
        ids.append(token)
    cells["logit"] = rng.standard_normal(VOCAB)  # the step that stops: not counted
    noted(np.array(ids), cells["logit"])
    exact = [_old_logprob(logits.astype(np.float64), token) for logits, token in zip(steps, chosen, strict=True)]
    assert noted.logprobs == pytest.approx(exact, abs=1e-6, rel=0)
    # The old code itself, in float32, was off the exact figures by its rounding (7e-6 at -24 and -189).
    as_before = [_old_logprob(logits, token) for logits, token in zip(steps, chosen, strict=True)]
    assert noted.logprobs == pytest.approx(as_before, abs=1e-6, rel=1e-6)
    assert min(noted.logprobs) < -50 and noted.mean() == pytest.approx(np.mean(exact), abs=1e-6)
