"""Command line: python -m savs {fit, eval, predict, models}.

User errors (bad data, unknown model, wrong classifier) print one line on stderr and exit with
code 2; progress bars go to stderr; --json prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from . import distributed
from .errors import SavsError

EXIT_USER_ERROR = 2


@contextmanager
def progress_bar(desc: str, enabled: bool = True) -> Iterator:
    """A tqdm bar on stderr as a (done, total) callback (hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    bar = None
    enabled = enabled and distributed.is_main_process()

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="ex", file=sys.stderr,
                       disable=None if enabled else True)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()


def _positive_int(text: str) -> int:
    """argparse type: 0 or a negative count is a user error, not something to guess around."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--dtype", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="weights dtype (default: fp32 on CPU, bf16/fp16 on CUDA)")
    p.add_argument("--device-map", help="'auto' splits a model too large for one GPU")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="allow the model repository's own Python code to run (off by default)")
    p.add_argument("--batch-size", type=_positive_int, default=8)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m savs", description=(
        "Sparse Attention Vectors: few-shot classifiers from frozen generative models."))
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="select heads on labeled examples and save a classifier")
    fit.add_argument("--model", required=True,
                     help="a bundled name (see `python -m savs models`), a folder, or a hub id")
    fit.add_argument("--train", required=True, help="JSONL, folder of class folders, or .zip")
    fit.add_argument("--test", help="labeled examples to report test accuracy on")
    fit.add_argument("--heads", "-k", type=_positive_int, default=20, help="number of heads to keep")
    fit.add_argument("--scoring", choices=["loo", "reference"], default="loo",
                     help="loo: leave the scored example out of its class mean (default)")
    fit.add_argument("--prompt", help="instruction put before every example's text")
    fit.add_argument("--question", help="the text for folder datasets (and JSONL lines without "
                                         "a question)")
    fit.add_argument("--out", help="folder (or .zip) to save the classifier to")
    fit.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    fit.add_argument("--baseline", choices=["zeroshot"], help="also report a baseline: zeroshot "
                     "= the model's own answer, each label scored by its log-likelihood (on "
                     "--test when given, else on --train)")
    _add_model_options(fit)

    ev = sub.add_parser("eval", help="accuracy, per-class precision/recall, confusion matrix")
    ev.add_argument("--classifier", required=True, help="folder or .zip written by fit --out")
    ev.add_argument("--test", required=True)
    ev.add_argument("--question")
    ev.add_argument("--model", help="override the model recorded in the classifier")
    ev.add_argument("--json", action="store_true")
    _add_model_options(ev)

    pr = sub.add_parser("predict", help="classify one input")
    pr.add_argument("--classifier", required=True)
    pr.add_argument("--image", action="append", default=[], help="an image (repeat for several)")
    pr.add_argument("--text", default="", help="the text / question for this input")
    pr.add_argument("--model", help="override the model recorded in the classifier")
    pr.add_argument("--explain", action="store_true",
                    help="also show where each selected head looked: its attention weights at "
                         "the last prompt token over the input tokens and image patches")
    pr.add_argument("--json", action="store_true")
    _add_model_options(pr)

    sub.add_parser("models", help="list the bundled model names")
    return parser


def _load(args: argparse.Namespace, name: str):
    from .models import load_model

    dtype = None if args.dtype == "auto" else args.dtype
    device = args.device or distributed.device()  # under accelerate: this process's device
    return load_model(name, device=device, dtype=dtype, device_map=args.device_map,
                      trust_remote_code=args.trust_remote_code)


def cmd_fit(args: argparse.Namespace) -> dict:
    from .data import check_training_set, load_examples
    from .pipeline import evaluate, fit

    start = time.perf_counter()
    train = load_examples(args.train, question=args.question, workdir=args.workdir / "train")
    test = (load_examples(args.test, question=args.question, workdir=args.workdir / "test")
            if args.test else None)
    check_training_set(train, leave_one_out=args.scoring == "loo")  # before a slow model load
    adapter = _load(args, args.model)
    with progress_bar("extracting", not args.json) as bar:
        clf = fit(adapter, train, prompt=args.prompt, k=args.heads, scoring=args.scoring,
                  batch_size=args.batch_size, progress=bar)
    result = {
        "model": adapter.name, "labels": clf.labels, "k": clf.k, "scoring": args.scoring,
        "train_examples": len(train), "train_accuracy": clf.config["train_accuracy"],
        "top_heads": [[h.layer, h.head] for h in clf.heads],
        "head_scores": clf.head_scores.tolist(), "num_layers": adapter.num_layers,
        "num_heads": adapter.num_heads, "head_dim": adapter.head_dim,
        "processes": distributed.world_size(),
    }
    if test is not None:
        with progress_bar("testing", not args.json) as bar:
            report, _ = evaluate(adapter, clf, test, args.batch_size, progress=bar)
        result["test_examples"] = len(test)
        result["test_accuracy"] = report.accuracy
    if args.baseline == "zeroshot":
        result.update(_zeroshot_baseline(args, adapter, clf.labels, test or train))
    if args.out and distributed.is_main_process():
        result["out"] = str(clf.save(args.out))
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result


def _zeroshot_baseline(args: argparse.Namespace, adapter, labels: list[str], examples) -> dict:
    """`fit --baseline zeroshot`: accuracy of the frozen model answering with a label itself."""
    from .baseline import zero_shot_accuracy

    with progress_bar("zero-shot", not args.json) as bar:
        accuracy = zero_shot_accuracy(adapter, examples, labels, args.prompt, args.batch_size,
                                      progress=bar)
    return {"zeroshot_accuracy": accuracy, "zeroshot_examples": len(examples),
            "zeroshot_on": "test" if args.test else "train"}


def _classifier_and_model(args: argparse.Namespace):
    from .classifier import SAVClassifier

    clf = SAVClassifier.load(args.classifier)
    adapter = _load(args, args.model or clf.config.get("model", ""))
    if args.model:
        # the user named the model on purpose (e.g. the recorded folder moved): accept the new
        # name; check_compatible still refuses a model of another shape
        clf.config["model"] = adapter.name
    return clf, adapter


def cmd_eval(args: argparse.Namespace) -> dict:
    from .data import load_examples
    from .pipeline import evaluate

    test = load_examples(args.test, question=args.question, workdir=args.workdir / "test")
    clf, adapter = _classifier_and_model(args)
    with progress_bar("evaluating", not args.json) as bar:
        report, _ = evaluate(adapter, clf, test, args.batch_size, progress=bar)
    return {**report.to_json(), "test_examples": len(test)}


def cmd_predict(args: argparse.Namespace) -> dict:
    from .data import Example, parse_record
    from .pipeline import predict

    if not args.image and not args.text:
        raise SavsError("predict needs an input: --image PATH (repeatable) and/or --text TEXT.")
    record = {"question": args.text}
    if args.image:
        record["image"] = args.image
    example: Example = parse_record(record, "command line", base_dir=Path("."),
                                    require_label=False)
    clf, adapter = _classifier_and_model(args)
    if not args.explain:
        return predict(adapter, clf, [example])[0].to_json()
    from .explanation import explain_prediction

    prediction, explanations = explain_prediction(adapter, clf, example)  # one forward pass
    return {**prediction.to_json(), "explanations": [e.to_json() for e in explanations]}


def _print_human(command: str, result: dict) -> None:
    if command == "fit":
        print(f"{result['model']}: {result['num_layers']} layers x {result['num_heads']} heads; "
              f"kept {result['k']} heads ({result['scoring']})")
        print(f"classes: {', '.join(result['labels'])}")
        print(f"train accuracy: {result['train_accuracy']:.3f}")
        if "test_accuracy" in result:
            print(f"test accuracy:  {result['test_accuracy']:.3f} on {result['test_examples']}")
        if "zeroshot_accuracy" in result:
            print(f"zero-shot accuracy ({result['zeroshot_on']}): "
                  f"{result['zeroshot_accuracy']:.3f} on {result['zeroshot_examples']}")
        print("top heads (layer, head): " + ", ".join(f"({a},{b})" for a, b in result["top_heads"][:10])
              + (" ..." if result["k"] > 10 else ""))
        if "out" in result:
            print(f"saved classifier to {result['out']}")
        print(f"{result['seconds']:.1f} s")
    elif command == "eval":
        print(f"accuracy: {result['accuracy']:.3f} on {result['test_examples']} examples")
        for label, m in result["per_class"].items():
            print(f"  {label:>20}: precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
                  f"support {m['support']}")
    elif command == "predict":
        shares = ", ".join(f"{k} {v:.2f}" for k, v in sorted(result["probabilities"].items(),
                                                             key=lambda kv: -kv[1]))
        print(f"{result['label']}  ({shares})")
        for e in result.get("explanations", []):
            top = sorted(zip(e["attention"], e["tokens"]), reverse=True)[:3]
            looks = ", ".join(f"{token!r} {weight:.2f}" for weight, token in top)
            print(f"  head ({e['layer']},{e['head']}) votes {e['vote']}; looks at {looks}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "models":
        from .models.registry import BUNDLED, HUB_SUGGESTIONS

        for spec in BUNDLED.values():
            print(f"{spec.name:10} {spec.description}")
        print("hub (internet + GPU): " + ", ".join(HUB_SUGGESTIONS))
        return 0
    commands = {"fit": cmd_fit, "eval": cmd_eval, "predict": cmd_predict}
    # library warnings (duplicate examples ...) read like errors: one line, no source location
    library_format, warnings.formatwarning = (
        warnings.formatwarning, lambda message, *_args, **_kw: f"warning: {message}\n")
    try:
        # .zip datasets are extracted here, and removed when the command ends
        with tempfile.TemporaryDirectory(prefix="savs-cli-") as workdir:
            args.workdir = Path(workdir)
            result = commands[args.command](args)
    except SavsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = library_format
    if not distributed.is_main_process():
        return 0  # under accelerate launch, only the main process reports
    if args.json:
        print(json.dumps(result))
    else:
        _print_human(args.command, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
