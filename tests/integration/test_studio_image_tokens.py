"""The resolution policy in a Studio session (no gradio): the visitor's choice is what Extract
uses and the classifier records, classify replays the classifier's own (not the model's
default), and a server's cap refuses an imported classifier recorded above it."""

from __future__ import annotations

import pytest
import torch
from test_image_policy_models import adapter_for, counting_encodes, processor_with_room

from savs import ActivationCache, ModelAdapter, ModelError
from studio.actions import Studio

import studio_fixtures as sf
import tiny_models

pytestmark = pytest.mark.integration
torch.set_num_threads(1)


@pytest.fixture
def fitted(task_root, monkeypatch) -> tuple[Studio, list[int]]:
    s = Studio()
    s.load_example_task("colours", task_root)
    s.k, s.image_tokens = 3, 20
    seen = counting_encodes(monkeypatch)
    s.extract_and_fit(adapter_for("smolvlm"), ActivationCache())  # the model's default: 4
    return s, seen


def test_extract_uses_the_sessions_choice_and_the_classifier_records_it(fitted):
    studio, seen = fitted
    assert set(seen) == {20}  # 2 x 2 tiles + the global image, not the default's one tile
    assert studio.classifier.config.max_image_tokens == 20


def test_classify_and_explain_replay_the_classifiers_policy(fitted):
    studio, seen = fitted
    seen.clear()
    studio.image_tokens = None  # a later change of the choice: the classifier keeps its own
    image = sf.colour_image(sf.TASK_COLOURS["blue"], 3)
    studio.classify(adapter_for("smolvlm"), image)
    result = studio.classify(adapter_for("smolvlm"), image, explain=True)
    assert seen == [20, 20] and result.explanations and not result.explain_error


def test_a_server_cap_refuses_a_classifier_recorded_above_it(fitted):
    studio, _ = fitted
    model, processor = tiny_models.smolvlm()
    room = processor_with_room("smolvlm", processor)
    capped = ModelAdapter(model, room, "tiny-smolvlm", None, None, 4)
    with pytest.raises(ModelError, match="max_image_tokens=20 is above this server's bound of 4"):
        Studio().import_classifier_object(studio.classifier, capped)
    with pytest.raises(ModelError, match="above this server's bound of 4"):
        studio.classify(capped, sf.colour_image(sf.TASK_COLOURS["red"], 1))
