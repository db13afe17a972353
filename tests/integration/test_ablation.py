"""savs.ablate switches heads off inside the model: its logits equal a hand-written reference
(a pre-hook on o_proj that zeroes the head's slice, or writes the given mean) on every supported
tiny architecture and on the bundled `tiny`; with no heads nothing changes; the hooks are gone
after the block (also after an error) and another thread's forward passes are untouched."""

from __future__ import annotations

import threading

import pytest
import torch
from test_architectures import ARCHS, VLMS, adapter_for, training_sets

import savs
from savs import SavsError
from savs.ablation import ablate, ablation_effect
from savs.baseline import label_log_likelihoods
from savs.models.registry import ASSETS

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

torch.set_num_threads(1)


def inputs_for(adapter, name: str) -> dict:
    kind = "image" if name in VLMS else "text"
    _, query = training_sets(name)[kind]
    return adapter.encode([query])


def logits(adapter, inputs: dict) -> torch.Tensor:
    with torch.no_grad():
        return adapter.model(**inputs, use_cache=False).logits[:, -1]


def reference(adapter, inputs: dict, heads, means=None) -> torch.Tensor:
    """The obvious way: one pre-hook per head that overwrites its slice, all positions."""
    d = adapter.head_dim

    def make(layer, head):
        def hook(module, args):
            x = args[0].clone()
            x[..., head * d : (head + 1) * d] = 0 if means is None else means[layer, head]
            return (x,)

        return hook

    handles = [adapter.o_projs[i].register_forward_pre_hook(make(i, h)) for i, h in heads]
    try:
        return logits(adapter, inputs)
    finally:
        for handle in handles:
            handle.remove()


def some_heads(adapter) -> list[savs.HeadIndex]:
    L, H = adapter.num_layers, adapter.num_heads
    return [savs.HeadIndex(0, 1), savs.HeadIndex(L - 1, H - 1), savs.HeadIndex(L - 1, 0)]


@pytest.mark.integration
@pytest.mark.parametrize("name", ARCHS)
def test_zero_and_mean_ablation_equal_the_reference(name):
    adapter = adapter_for(name)
    inputs = inputs_for(adapter, name)
    plain = logits(adapter, inputs)
    heads = some_heads(adapter)
    with ablate(adapter, heads, mode="zero"):
        zeroed = logits(adapter, inputs)
    torch.testing.assert_close(zeroed, reference(adapter, inputs, heads))
    assert not torch.allclose(zeroed, plain)
    means = torch.randn(adapter.num_layers, adapter.num_heads, adapter.head_dim)
    with ablate(adapter, heads, mode="mean", means=means):
        meaned = logits(adapter, inputs)
    torch.testing.assert_close(meaned, reference(adapter, inputs, heads, means))
    torch.testing.assert_close(logits(adapter, inputs), plain)  # hooks are gone


@pytest.mark.integration
@pytest.mark.parametrize("name", ["llava", "qwen2_lm"])
def test_no_heads_change_nothing_and_hooks_leave_after_an_error(name):
    adapter = adapter_for(name)
    inputs = inputs_for(adapter, name)
    plain = logits(adapter, inputs)
    with ablate(adapter, []):
        torch.testing.assert_close(logits(adapter, inputs), plain)
    with pytest.raises(RuntimeError), ablate(adapter, some_heads(adapter)):
        raise RuntimeError("boom")
    assert all(not p._forward_pre_hooks for p in adapter.o_projs)
    torch.testing.assert_close(logits(adapter, inputs), plain)


@pytest.mark.integration
def test_another_threads_forward_is_not_ablated():
    adapter = adapter_for("llava")
    inputs = inputs_for(adapter, "llava")
    plain = logits(adapter, inputs)
    seen: list[torch.Tensor] = []
    with ablate(adapter, some_heads(adapter)):
        thread = threading.Thread(target=lambda: seen.append(logits(adapter, inputs)))
        thread.start()
        thread.join(timeout=60)
        mine = logits(adapter, inputs)
    torch.testing.assert_close(seen[0], plain)
    assert not torch.allclose(mine, plain)


@pytest.mark.integration
def test_bad_heads_modes_and_means_are_refused():
    adapter = adapter_for("llava")
    L, H = adapter.num_layers, adapter.num_heads
    with pytest.raises(SavsError, match="outside"), ablate(adapter, [(L, 0)]):
        pass
    with pytest.raises(SavsError, match="outside"), ablate(adapter, [(0, H)]):
        pass
    with pytest.raises(SavsError, match="'zero' or 'mean'"), ablate(adapter, [], mode="one"):
        pass
    with pytest.raises(SavsError, match="needs per-head means"), ablate(adapter, [(0, 0)], "mean"):
        pass
    wrong = torch.zeros(L, H, adapter.head_dim + 1)
    with pytest.raises(SavsError, match="means must be"), ablate(adapter, [(0, 0)], "mean", wrong):
        pass


@pytest.mark.slow
def test_ablation_on_the_bundled_tiny_equals_the_reference():
    adapter = savs.load_model("tiny")
    examples = savs.load_examples(ASSETS / "examples" / "colour" / "test.jsonl")[:1]
    inputs = adapter.encode(examples)
    heads = [savs.HeadIndex(4, 0), savs.HeadIndex(5, 3), savs.HeadIndex(7, 7)]
    with ablate(adapter, heads):
        zeroed = logits(adapter, inputs)
    torch.testing.assert_close(zeroed, reference(adapter, inputs, heads))
    assert not torch.allclose(zeroed, logits(adapter, inputs))


def scored_with_reference_hooks(adapter, heads, example, labels, prompt=None) -> dict:
    """Label scores with the hand-written zeroing pre-hooks in place of savs.ablate."""
    d = adapter.head_dim

    def make(head):
        def hook(module, args):
            x = args[0].clone()
            x[..., head * d : (head + 1) * d] = 0
            return (x,)

        return hook

    handles = [adapter.o_projs[i].register_forward_pre_hook(make(h)) for i, h in heads]
    try:
        row = label_log_likelihoods(adapter, [example], labels, prompt)[0]
    finally:
        for handle in handles:
            handle.remove()
    return dict(zip(labels, row.tolist()))


@pytest.mark.integration
@pytest.mark.parametrize("name", ["llava", "qwen2_lm"])
def test_ablation_effect_scores_the_answer_with_the_heads_and_random_ones_off(name):
    adapter = adapter_for(name)
    kind = "image" if name in VLMS else "text"
    train, query = training_sets(name)[kind]
    clf = savs.fit(adapter, train, k=4, batch_size=4)
    effect = ablation_effect(adapter, clf, query, seed=3)
    assert effect.heads == clf.heads and effect.mode == "zero"
    assert len(effect.control_heads) == 4 and not set(effect.control_heads) & set(clf.heads)
    labels, prompt = clf.labels, clf.config.prompt
    plain = dict(zip(labels, label_log_likelihoods(adapter, [query], labels, prompt)[0].tolist()))
    assert effect.full == pytest.approx(plain)
    assert effect.ablated == pytest.approx(
        scored_with_reference_hooks(adapter, clf.heads, query, labels, prompt)
    )
    assert effect.control == pytest.approx(
        scored_with_reference_hooks(adapter, effect.control_heads, query, labels, prompt)
    )
    assert effect.ablated != pytest.approx(effect.full)  # the heads do reach the answer
    assert effect.answers() == tuple(
        max(s, key=s.get) for s in (plain, effect.ablated, effect.control)
    )
    # seeded: the same seed draws the same control heads, and the hooks are gone afterwards
    assert ablation_effect(adapter, clf, query, seed=3).control_heads == effect.control_heads
    assert all(not p._forward_pre_hooks for p in adapter.o_projs)
    # heads given as a list, with other labels: nothing off changes nothing
    none = ablation_effect(adapter, [], query, ["yes", "no"])
    assert none.full == none.ablated == none.control and none.control_heads == []
    with pytest.raises(SavsError, match="outside"):
        ablation_effect(adapter, [(adapter.num_layers, 0)], query, ["yes"])
