"""The CLI's arguments: one sub-parser per command (`python -m savs --help`)."""

from __future__ import annotations

import argparse

from ..types import SCORINGS


def _positive_int(text: str) -> int:
    """argparse type: 0 or a negative count is a user error, not something to guess around."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _head_count(text: str) -> int | str:
    """argparse type for --heads: a positive number, or "auto" (the fewest heads within one
    point of the best training accuracy)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (or 'auto')") from None


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument(
        "--dtype",
        choices=["auto", "fp32", "bf16", "fp16"],
        default="auto",
        help="weights dtype (default: fp32 on CPU, bf16/fp16 on CUDA)",
    )
    p.add_argument("--device-map", help="'auto' splits a model too large for one GPU")
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow the model repository's own Python code to run (off by default)",
    )
    p.add_argument("--batch-size", type=_positive_int, default=8)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m savs",
        description=(
            "Sparse Attention Vectors: few-shot classifiers from frozen generative models."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _fit_parser(sub)
    _eval_parser(sub)
    _predict_parser(sub)
    _other_parsers(sub)
    return parser


def image_tokens_arg(text: str) -> int:
    """--max-image-tokens as argparse reads it (the CLI's and the app's): a whole number >= 0
    (`savs.models.image_policy.parse_bound`, the one parser of a bound)."""
    from ..models.image_policy import parse_bound

    try:
        value = parse_bound(text, "--max-image-tokens")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value is None:
        raise argparse.ArgumentTypeError("--max-image-tokens needs a whole number >= 0.")
    return value


def _fit_parser(sub) -> None:
    fit = sub.add_parser("fit", help="select heads on labeled examples and save a classifier")
    fit.add_argument(
        "--model",
        required=True,
        help="a bundled name (see `python -m savs models`), a folder, or a hub id",
    )
    fit.add_argument("--train", required=True, help="JSONL, folder of class folders, or .zip")
    fit.add_argument("--test", help="labeled examples to report test accuracy on")
    fit.add_argument(
        "--heads",
        "-k",
        type=_head_count,
        default=20,
        help="number of heads to keep, or 'auto': the fewest whose training "
        "(leave-one-out) accuracy is within one point of the best k's",
    )
    fit.add_argument(
        "--scoring",
        choices=SCORINGS,
        default="loo",
        help="loo: leave the scored example out of its class mean (default)",
    )
    fit.add_argument("--prompt", help="instruction put before every example's text")
    fit.add_argument(
        "--question", help="the text for folder datasets (and JSONL lines without a question)"
    )
    fit.add_argument("--out", help="folder (or .zip) to save the classifier to")
    fit.add_argument(
        "--max-image-tokens",
        type=image_tokens_arg,
        default=None,
        metavar="N",
        help="at most N image tokens per image (default: the architecture's classification "
        "default, e.g. one tile on SmolVLM; 0: the processor's own settings). The classifier "
        "records it: eval and predict use the same",
    )
    fit.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    fit.add_argument(
        "--baseline",
        choices=["zeroshot"],
        help="also report a baseline: zeroshot "
        "= the model's own answer, each label scored by its log-likelihood (on "
        "--test when given, else on --train)",
    )
    fit.add_argument(
        "--baselines",
        action="store_true",
        help="also report, on --test, "
        "zero-shot and baselines on the same activations: all heads voting, "
        "nearest class mean, 1-nearest-neighbour and a linear probe on the "
        "selected heads",
    )
    _add_model_options(fit)


def _eval_parser(sub) -> None:
    ev = sub.add_parser("eval", help="accuracy, per-class precision/recall, confusion matrix")
    ev.add_argument("--classifier", required=True, help="folder or .zip written by fit --out")
    ev.add_argument(
        "--whole-model",
        action="store_true",
        help="load every layer (default: only up to the classifier's deepest head)",
    )
    ev.add_argument("--test", required=True)
    ev.add_argument("--question")
    ev.add_argument("--model", help="override the model recorded in the classifier")
    ev.add_argument("--json", action="store_true")
    ev.add_argument(
        "--baselines",
        action="store_true",
        help="also report zero-shot and the baselines of fit --baselines; needs --train",
    )
    ev.add_argument(
        "--train",
        help="the examples the classifier was fit on: the baselines are "
        "fit on them (with --baselines)",
    )
    _add_model_options(ev)


def _predict_parser(sub) -> None:
    pr = sub.add_parser("predict", help="classify one input")
    pr.add_argument("--classifier", required=True)
    pr.add_argument(
        "--whole-model",
        action="store_true",
        help="load every layer (default: only up to the classifier's deepest head)",
    )
    pr.add_argument("--image", action="append", default=[], help="an image (repeat for several)")
    pr.add_argument("--text", default="", help="the text / question for this input")
    pr.add_argument("--model", help="override the model recorded in the classifier")
    pr.add_argument(
        "--explain",
        action="store_true",
        help="also show where each selected head looked: its attention weights at "
        "the last prompt token over the input tokens and image patches",
    )
    pr.add_argument("--json", action="store_true")
    _add_model_options(pr)


def _other_parsers(sub) -> None:
    """compare, models, export-space: no model options."""
    cmp = sub.add_parser("compare", help="the heads two or more classifiers share")
    cmp.add_argument("classifiers", nargs="+", metavar="CLASSIFIER", help="folders or .zip")
    cmp.add_argument("--json", action="store_true")

    sub.add_parser("models", help="list the bundled model names")

    ex = sub.add_parser("export-space", help="a folder ready to push as a Gradio Space")
    ex.add_argument("--classifier", required=True, help="folder or .zip written by fit --out")
    ex.add_argument("--out", required=True, help="a new (or empty) folder to write")
    ex.add_argument("--title", help="the Space's title (default: from the labels)")
    ex.add_argument("--text", default="", help="the text sent with each input by default")
    ex.add_argument("--json", action="store_true")


__all__ = ["build_parser"]
