"""Behavioural tests of the served reason classifier (Ribeiro et al. 2020, CheckList): minimum functionality per
code, invariance to noise customers actually produce, directional expectations, and abstention.

They run against the small default bundle the session fixture trains (frozen encoder, quick synthetic corpus),
so thresholds are what that model must at least reach; a regression below them is one a user would notice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from returns_triage.models.reason import ReasonModel

# Two plain statements per code, in different channels' voices, none copied from the generator's templates.
MINIMUM_FUNCTIONALITY = {
    "DAMAGED_IN_TRANSIT": ["The carton was crushed by the courier and the drill inside is cracked.",
                           "RCVD DAMAGED - PALLET DROPPED IN TRANSIT, UNITS DENTED"],
    "DEFECTIVE": ["The pump does not turn on at all, it is faulty out of the box.",
                  "unit is dead on arrival, won't power up"],
    "WRONG_ITEM_SHIPPED": ["I ordered the M8 bolts but you sent M10 bolts instead.",
                           "you shipped us the wrong product, packing slip shows a different item than what we ordered"],
    "ORDERED_WRONG_ITEM": ["My mistake, I ordered the wrong size and need the larger one.",
                           "customer admits they picked the wrong part number when ordering"],
    "NOT_AS_DESCRIBED": ["The gloves look nothing like the photos on your website and the material is different.",
                         "item does not match the description in the catalogue"],
    "INCOMPATIBLE": ["This charger is not compatible with our machines, wrong connector.",
                     "doesn't fit our model, incompatible with the existing setup"],
    "MISSING_PARTS": ["The kit arrived without the mounting screws and the manual.",
                      "parts missing from the box, the bracket is not included"],
    "QUANTITY_DISCREPANCY": ["We ordered 10 boxes but only received 7.",
                             "RCVD 3 OF 5 CTN, SHORT SHIPPED VS PACKING SLIP"],
    "NO_LONGER_NEEDED": ["We don't need these anymore, the project was cancelled.",
                         "no longer required, customer changed their mind"],
    "LATE_DELIVERY": ["It arrived two weeks late, after the event we needed it for.",
                      "delivered too late, we had to buy elsewhere"],
    "DUPLICATE_ORDER": ["We accidentally placed the same order twice, please take back the second one.",
                        "duplicate order submitted by mistake"],
    "WARRANTY_CLAIM": ["It stopped working after 14 months and is still under warranty.",
                       "warranty claim: motor failed within the warranty period"],
    "EXPIRED_OR_SHORT_DATED": ["The reagent expires next week, far too short dated to use.",
                               "product received past its expiry date"],
}

OUT_OF_SCOPE = [
    "Can you send me a copy of last month's invoice please?",
    "Please change my delivery address to Keizersgracht 12, Amsterdam",
    "asdkj qwe zzxq lorem ipsum 12345",
    "What are your opening hours on Saturday?",
]


@pytest.fixture(scope="module")
def model(reason_bundle: Path) -> ReasonModel:
    return ReasonModel.load(reason_bundle)


def _codes(model: ReasonModel, texts: list[str]) -> list[str]:
    return [p.code for p in model.predict(texts)]


def test_minimum_functionality_per_code(model: ReasonModel) -> None:
    texts = [t for ts in MINIMUM_FUNCTIONALITY.values() for t in ts]
    expected = [c for c, ts in MINIMUM_FUNCTIONALITY.items() for _ in ts]
    got = _codes(model, texts)
    misses = [(e, g, t) for e, g, t in zip(expected, got, texts, strict=True) if e != g]
    per_code_hit = {c: any(g == c for g, e in zip(got, expected, strict=True) if e == c) for c in MINIMUM_FUNCTIONALITY}
    # Every code is recognised from at least one plain statement, and most statements are right.
    assert all(per_code_hit.values()), misses
    assert len(misses) <= 4, misses


@pytest.mark.parametrize("perturb", [
    str.upper,
    str.lower,
    lambda t: t.rstrip(".") + "!!",
    lambda t: "Hi team, " + t + " Thanks, Jonas",
    lambda t: t.replace("the ", "teh ", 1),
    lambda t: "  " + t.replace(" ", "  ", 2) + "  ",
], ids=["upper", "lower", "punctuation", "greeting-and-signature", "typo", "whitespace"])
def test_codes_are_invariant_to_noise(model: ReasonModel, perturb) -> None:  # type: ignore[no-untyped-def]
    texts = [ts[0] for ts in MINIMUM_FUNCTIONALITY.values()]
    before = _codes(model, texts)
    after = _codes(model, [perturb(t) for t in texts])
    changed = [(t, b, a) for t, b, a in zip(texts, before, after, strict=True) if a != b]
    assert len(changed) <= 1, changed


def test_batching_and_padding_do_not_change_probabilities(model: ReasonModel) -> None:
    texts = [t for ts in MINIMUM_FUNCTIONALITY.values() for t in ts][:12]
    one_by_one = np.vstack([model.probabilities([t], batch_size=1) for t in texts])
    batched = model.probabilities(texts, batch_size=12)
    assert np.abs(one_by_one - batched).max() < 1e-4


@pytest.mark.parametrize(("base", "addition", "code"), [
    ("the lamp does not work", ", arrived crushed", "DAMAGED_IN_TRANSIT"),
    ("we want to return this", ", it is the wrong voltage for our machines", "INCOMPATIBLE"),
    ("please take this back", ", we only received 3 of the 5 boxes", "QUANTITY_DISCREPANCY"),
    ("return request for the order", ", it came a week after the deadline", "LATE_DELIVERY"),
])
def test_adding_evidence_moves_towards_its_code(model: ReasonModel, base: str, addition: str, code: str) -> None:
    i = list(model.labels).index(code)
    before, after = model.probabilities([base, base + addition])
    assert after[i] > before[i] + 0.05, (before[i], after[i])


def test_a_negated_cause_does_not_win(model: ReasonModel) -> None:
    # "box was fine" mentions packaging, but the reason is the voltage.
    assert _codes(model, ["box was fine, it's just the wrong voltage for our machines"]) == ["INCOMPATIBLE"]


def test_out_of_scope_scores_above_clear_reasons(model: ReasonModel) -> None:
    in_scope = model.predict([ts[0] for ts in MINIMUM_FUNCTIONALITY.values()])
    out = model.predict(OUT_OF_SCOPE)
    assert sum(p.abstain for p in out) >= 3, [(p.code, p.out_of_scope_score) for p in out]
    assert np.median([p.out_of_scope_score for p in out]) > np.median([p.out_of_scope_score for p in in_scope])
    assert sum(p.abstain for p in in_scope) <= len(in_scope) // 2


def test_ambiguous_text_gets_a_wider_prediction_set(model: ReasonModel) -> None:
    clear = model.predict(["We ordered 10 boxes but only received 7."])[0]
    mixed = model.predict(["arrived late and also the box was damaged, and one part is missing"])[0]
    assert len(mixed.prediction_set) >= len(clear.prediction_set)
    assert mixed.confidence < clear.confidence
