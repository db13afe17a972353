"""SAVs: Sparse Attention Vectors (Mitra et al., arXiv 2412.00142).

A frozen generative (vision-)language model becomes a few-shot classifier: read every attention
head's output at the final prompt token, keep the k heads whose class means separate the training
examples best, and classify by their majority vote.

    import savs
    model = savs.load_model("tiny")
    train = savs.load_examples("assets/examples/colour/train.jsonl")
    clf = savs.fit(model, train, k=20)
    print(savs.predict(model, clf, savs.load_examples("assets/examples/colour/test.jsonl"))[0])
"""

from ._version import __version__
from .ablation import AblationEffect, ablate, ablation_effect
from .activations import ActivationCache, extract
from .baseline import zero_shot_accuracy, zero_shot_predict
from .class_attention import ClassAttention, class_attention
from .classifier import Prediction, SAVClassifier, fit_activations
from .data import Example, load_examples
from .errors import ClassifierError, DataError, ModelError, SavsError
from .explanation import HeadExplanation, explain, explain_prediction, head_class_accuracy
from .heads import HeadIndex, capture_heads
from .metrics import EvalReport
from .models import ModelAdapter, load_model
from .pipeline import evaluate, evaluate_with_baselines, fit, predict
from .projection import HeadProjection, head_projection

__all__ = [
    "__version__",
    "ActivationCache",
    "extract",
    "Prediction",
    "SAVClassifier",
    "fit_activations",
    "Example",
    "load_examples",
    "ClassifierError",
    "DataError",
    "ModelError",
    "SavsError",
    "HeadIndex",
    "capture_heads",
    "EvalReport",
    "ModelAdapter",
    "load_model",
    "evaluate",
    "evaluate_with_baselines",
    "fit",
    "predict",
    "zero_shot_accuracy",
    "zero_shot_predict",
    "explain",
    "explain_prediction",
    "HeadExplanation",
    "head_class_accuracy",
    "ablate",
    "ablation_effect",
    "AblationEffect",
    "head_projection",
    "HeadProjection",
    "class_attention",
    "ClassAttention",
]
