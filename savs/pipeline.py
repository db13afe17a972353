"""Fit, predict and evaluate: the model-running glue around `classifier` (pure math) and
`activations` (batched, cached extraction)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._version import __version__
from .activations import ActivationCache, ProgressFn, batches, extract
from .classifier import HeadCount, Prediction, SAVClassifier, Scoring, fit_activations
from .compare import compare_baselines
from .data import Example, check_training_set
from .distributed import map_batches
from .errors import ClassifierError, DataError, ModelError
from .metrics import EvalReport, evaluation_report
from .models.adapter import ModelAdapter
from .models.image_policy import NO_BOUND
from .types import FitConfig


def training_activations(
    adapter: ModelAdapter,
    examples: Sequence[Example],
    prompt: str | None = None,
    scoring: Scoring = "loo",
    batch_size: int = 8,
    cache: ActivationCache | None = None,
    progress: ProgressFn | None = None,
    checked: bool = False,
) -> torch.Tensor:
    """Check a training set (`data.check_training_set`, unless the caller did: `checked`),
    then run the model once per example: [N, L, H, d]."""
    if not checked:
        check_training_set(examples, leave_one_out=scoring == "loo")
    return extract(adapter, examples, prompt, batch_size, cache, progress)


def fit(
    adapter: ModelAdapter,
    examples: Sequence[Example],
    prompt: str | None = None,
    k: HeadCount = 20,
    scoring: Scoring = "loo",
    batch_size: int = 8,
    cache: ActivationCache | None = None,
    progress: ProgressFn | None = None,
) -> SAVClassifier:
    """Run the model once per example, score every head, keep the top k (k="auto": the fewest
    heads within one point of the best training accuracy, see `classifier.k_curve`)."""
    return fit_with_activations(adapter, examples, prompt, k, scoring, batch_size, cache, progress)[
        0
    ]


def fit_with_activations(
    adapter: ModelAdapter,
    examples: Sequence[Example],
    prompt: str | None = None,
    k: HeadCount = 20,
    scoring: Scoring = "loo",
    batch_size: int = 8,
    cache: ActivationCache | None = None,
    progress: ProgressFn | None = None,
    checked: bool = False,
) -> tuple[SAVClassifier, torch.Tensor]:
    """`fit`, also returning the training activations [N, L, H, d] it read, for what else is
    computed from them without running the model again (the baselines; the k curve is the
    classifier's `k_curve`). `checked`: the caller ran `data.check_training_set` already (its
    duplicate warnings are not given twice)."""
    if adapter.num_layers < adapter.full_layers:
        raise ModelError(
            f"{adapter.name!r} was loaded with {adapter.num_layers} of its {adapter.full_layers} "
            "layers: fitting scores every head, so load the whole model to fit."
        )
    acts = training_activations(
        adapter, examples, prompt, scoring, batch_size, cache, progress, checked
    )  # [N, L, H, d]
    return fit_activations(
        acts, [ex.label for ex in examples], k, scoring, classifier_config(adapter, prompt)
    ), acts


def classifier_config(adapter: ModelAdapter, prompt: str | None) -> FitConfig:
    """What a saved classifier records about how it was made (the fit adds k, scoring and
    shapes)."""
    import transformers

    return FitConfig(
        model=adapter.name,
        model_class=type(adapter.model).__name__,
        prompt=prompt or "",
        max_image_tokens=adapter.max_image_tokens,
        savs_version=__version__,
        torch_version=torch.__version__,
        transformers_version=transformers.__version__,
    )


def recorded_image_tokens(classifier: SAVClassifier) -> int:
    """The resolution policy a classifier was fitted with; one from before the policy
    (no field) was fitted with the processor's own settings (NO_BOUND)."""
    tokens = classifier.config.max_image_tokens
    return NO_BOUND if tokens is None else tokens


def for_classifier(adapter: ModelAdapter, classifier: SAVClassifier) -> ModelAdapter:
    """The model under the resolution policy the classifier was fitted with (a view of the
    same model: `ModelAdapter.with_image_tokens`), so its heads read inputs as the fit did.
    Models with nothing to set (fixed image layouts, text LMs) come back as they are."""
    if adapter.max_image_tokens is None:
        return adapter
    return adapter.with_image_tokens(recorded_image_tokens(classifier))


def check_compatible(classifier: SAVClassifier, adapter: ModelAdapter) -> None:
    """Refuse a classifier made with another model (its heads would mean nothing here), or
    with another resolution policy (its heads saw other image tokens: `for_classifier`)."""
    cfg = classifier.config
    shape = (cfg.num_layers, cfg.num_heads, cfg.head_dim)
    if shape != (adapter.full_layers, adapter.num_heads, adapter.head_dim):
        raise ClassifierError(
            f"the classifier was made with {cfg.model!r} ({shape[0]} layers x {shape[1]} "
            f"heads x {shape[2]} dims), but the model in use is {adapter.name!r} "
            f"({adapter.full_layers} x {adapter.num_heads} x {adapter.head_dim}). Load "
            f"{cfg.model!r} first."
        )
    if classifier.heads and classifier.deepest_layer >= adapter.num_layers:
        raise ClassifierError(
            f"the classifier reads layer {classifier.deepest_layer}, but {adapter.name!r} was "
            f"loaded with its first {adapter.num_layers} layers only: load it with at least "
            f"{classifier.deepest_layer + 1} (or whole)."
        )
    if cfg.model not in (None, adapter.name):
        raise ClassifierError(
            f"the classifier was made with {cfg.model!r}, but the model "
            f"in use is {adapter.name!r}. Load {cfg.model!r} first."
        )
    if adapter.max_image_tokens is not None:
        fitted = recorded_image_tokens(classifier)
        if fitted != adapter.max_image_tokens:
            raise ClassifierError(
                f"the classifier was fitted with {_policy(fitted)}, but {adapter.name!r} is "
                f"set to {_policy(adapter.max_image_tokens)}: its heads would read other image "
                f"tokens. Load the model with max_image_tokens={fitted} (or pass "
                "savs.pipeline.for_classifier(model, classifier))."
            )


def _policy(tokens: int) -> str:
    if tokens == NO_BOUND:
        return "the processor's own image settings (max_image_tokens=0)"
    return f"max_image_tokens={tokens}"


def predict(
    adapter: ModelAdapter,
    classifier: SAVClassifier,
    examples: Sequence[Example],
    batch_size: int = 8,
    early_exit: bool = True,
    progress: ProgressFn | None = None,
) -> list[Prediction]:
    """Classify examples. The model runs only up to the deepest selected layer (early exit),
    under the resolution policy the classifier was fitted with (`for_classifier`)."""
    adapter = for_classifier(adapter, classifier)
    check_compatible(classifier, adapter)
    layers = sorted({h.layer for h in classifier.heads})
    prompt = classifier.config.prompt or None
    plan = batches(range(len(examples)), batch_size)

    def run(idx: Sequence[int]) -> list[Prediction]:
        acts = adapter.read_heads(
            adapter.encode([examples[i] for i in idx], prompt), layers, early_exit
        )  # [B, L', H, d]
        return classifier.predict_activations(acts)

    return [p for batch in map_batches(run, plan, progress) for p in batch]


def evaluate(
    adapter: ModelAdapter,
    classifier: SAVClassifier,
    examples: Sequence[Example],
    batch_size: int = 8,
    progress: ProgressFn | None = None,
) -> tuple[EvalReport, list[Prediction]]:
    """Predict labeled examples and compare: accuracy, per-class precision / recall, confusion."""
    labels = _test_labels(examples)
    predictions = predict(adapter, classifier, examples, batch_size, progress=progress)
    report = evaluation_report(labels, [p.label for p in predictions], classifier.labels)
    return report, predictions


def evaluate_with_baselines(
    adapter: ModelAdapter,
    classifier: SAVClassifier,
    examples: Sequence[Example],
    train_acts: torch.Tensor,
    train_labels: Sequence[str],
    batch_size: int = 8,
    progress: ProgressFn | None = None,
) -> tuple[EvalReport, list[Prediction], dict[str, float]]:
    """`evaluate`, and the `savs.compare` baselines fit on the training activations
    [N, L, H, d] (those the classifier was fit on) and scored on the same test set: every head
    of the test set is read in one pass, and the SAVs predictions come from it too (the model
    runs once, whole, instead of once cut for SAVs and again for the baselines)."""
    labels = _test_labels(examples)
    adapter = for_classifier(adapter, classifier)
    check_compatible(classifier, adapter)
    if adapter.num_layers < adapter.full_layers:
        raise ModelError(
            f"{adapter.name!r} was loaded with {adapter.num_layers} of its {adapter.full_layers} "
            "layers: the baselines read every head, so load the whole model."
        )
    prompt = classifier.config.prompt or None
    test_acts = extract(adapter, examples, prompt, batch_size, progress=progress)  # [N', L, H, d]
    predictions = classifier.predict_activations(test_acts)
    report = evaluation_report(labels, [p.label for p in predictions], classifier.labels)
    compared = compare_baselines(train_acts, train_labels, test_acts, labels, classifier.heads)
    return report, predictions, compared


def _test_labels(examples: Sequence[Example]) -> list[str]:
    """The test set's labels; every example needs one."""
    unlabeled = [ex.describe() for ex in examples if ex.label is None]
    if unlabeled:
        raise DataError(f"{unlabeled[0]}: test example without a label.")
    return [ex.label for ex in examples]
