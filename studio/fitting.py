"""Extract and fit: run the model once per training example, keep the activations, and refit
from them (another k or scoring) without the model; the k curve comes from the fit itself."""

from __future__ import annotations

from savs.activations import ActivationCache, ProgressFn
from savs.classifier import SCORINGS, HeadCount, SAVClassifier, auto_k, fit_activations, k_curve
from savs.data import Example
from savs.errors import DataError
from savs.models.adapter import ModelAdapter
from savs.pipeline import classifier_config, training_activations

from .budget import check_activations
from .session import Session, check_call_text


class FitActions(Session):
    """Fitting a session's classifier (a part of `studio.actions.Studio`)."""

    def extract_and_fit(
        self,
        adapter: ModelAdapter,
        cache: ActivationCache | None = None,
        progress: ProgressFn | None = None,
        batch_size: int = 8,
    ) -> SAVClassifier:
        """Run the model on every training example (the shared cache skips unchanged ones),
        keep the activations for refits, and fit."""
        examples = self._checked_training_set()
        check_call_text(examples, self.prompt, self.max_call_chars, "Extract")
        if self.image_tokens is not None:  # the visitor's choice (never above the server's cap)
            adapter = adapter.with_image_tokens(self.image_tokens)
        shape = (adapter.num_layers, adapter.num_heads, adapter.head_dim)
        check_activations(len(examples), shape, self.budget.max_activation_bytes)
        acts = training_activations(
            adapter, examples, self.prompt or None, self.scoring, batch_size, cache, progress
        )  # [N, L, H, d]
        self.activations, self.curve = acts, None
        self.fit_config = classifier_config(adapter, self.prompt or None)
        self.fitted_revision = None  # fitted below; until then nothing is current
        return self._fit(examples)

    def refit(self, k: HeadCount | None = None, scoring: str | None = None) -> SAVClassifier:
        """Refit with another k ("auto": the fewest heads within one point of the best on the
        k curve) / scoring from the kept activations, without the model."""
        if scoring is not None and scoring not in SCORINGS:
            raise DataError(f"scoring must be one of {', '.join(SCORINGS)}, got {scoring!r}.")
        if k is not None:
            self.k = "auto" if k == "auto" else max(1, int(k))
        if scoring is not None:
            self.scoring = scoring
        if self.activations is None or self.classifier is None:
            raise DataError("nothing extracted yet: click 'Extract' first.")
        if self.stale:  # a DataError here: the k and scoring asked for are kept
            raise DataError(self.stale_message())
        return self._fit(self._checked_training_set())

    def _checked_training_set(self) -> list[Example]:
        empty = [name for name, v in self.classes.items() if not v]
        if empty:
            raise DataError(f"class {empty[0]!r} has no examples. Add some, or delete the class.")
        return self.training_examples()

    def _fit(self, examples: list[Example]) -> SAVClassifier:
        num_heads = self.activations.shape[1] * self.activations.shape[2]
        k = "auto" if self.k == "auto" else min(int(self.k), num_heads)
        last, scores = self.classifier, None
        if (
            last is not None
            and last.head_margins is not None
            and self.curve is not None  # reset whenever the activations change
            and self.curve_scoring == self.scoring == last.config.scoring
        ):
            # only k moved: the head scores and the curve stand, and no cosine is computed
            scores = (last.head_scores, last.head_margins)
            k = auto_k(self.curve) if k == "auto" else k
        clf = fit_activations(
            self.activations,
            [ex.label for ex in examples],
            k,
            self.scoring,
            self.fit_config,
            scores,
        )
        self._fitted(clf)
        if clf.k_curve is not None:  # the fit's own, from the cosines its scores came from
            self.curve, self.curve_scoring = clf.k_curve, self.scoring
        return self.classifier

    def k_curve(self) -> list[tuple[int, float]] | None:
        """Training accuracy (leave-one-out with "loo") for every k from 1 to L * H, from the
        kept activations: the fit's own (`SAVClassifier.k_curve`), computed here only when the
        scoring changed without a fit. None when there are no current activations (nothing
        extracted, an imported classifier, or out of date)."""
        if not self.can_refit:
            return None
        if self.curve is None or self.curve_scoring != self.scoring:
            labels = [ex.label for ex in self.training_examples()]
            self.curve = k_curve(self.activations, labels, self.scoring)
            self.curve_scoring = self.scoring
        return self.curve


__all__ = ["FitActions"]
