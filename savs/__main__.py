"""Command line: python -m savs {fit, eval, predict, compare, export-space, models}.

User errors (bad data, unknown model, wrong classifier) print one line on stderr and exit with
code 2; progress bars go to stderr; --json prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import unicodedata
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

from . import distributed
from .errors import ClassifierError, DataError, SavsError

EXIT_USER_ERROR = 2
# bidirectional overrides and marks: they reorder what a terminal shows ("Trojan source")
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str, keep: str = "\n") -> str:
    """`text` safe for a terminal: control characters (escape codes), line / paragraph separators
    and bidi controls become visible escapes (\\x1b, \\u202e); characters in `keep` stay.
    Labels and paths come from data files: printed raw, they could rewrite the screen."""

    def hidden(c: str) -> bool:
        return c not in keep and (c in _BIDI or unicodedata.category(c) in ("Cc", "Zl", "Zp"))

    return "".join(c.encode("unicode_escape").decode("ascii") if hidden(c) else c for c in text)


@contextmanager
def progress_bar(desc: str, enabled: bool = True) -> Iterator:
    """A tqdm bar on stderr as a (done, total) callback (hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    bar = None
    enabled = enabled and distributed.is_main_process()

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=total,
                desc=desc,
                unit="ex",
                file=sys.stderr,
                disable=None if enabled else True,
            )
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
    from .classifier import SCORINGS

    parser = argparse.ArgumentParser(
        prog="python -m savs",
        description=(
            "Sparse Attention Vectors: few-shot classifiers from frozen generative models."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)

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
    return parser


def _load(args: argparse.Namespace, name: str, layers: int | None = None):
    from .models import load_model

    dtype = None if args.dtype == "auto" else args.dtype
    device = args.device or distributed.device()  # under accelerate: this process's device
    return load_model(
        name,
        device=device,
        dtype=dtype,
        device_map=args.device_map,
        trust_remote_code=args.trust_remote_code,
        layers=layers,
    )


def cmd_fit(args: argparse.Namespace) -> dict:
    from .data import check_training_set, load_examples
    from .pipeline import fit_with_activations

    if args.out:  # before anything slow: a bad --out must not cost a whole fit
        from .classifier import SAVClassifier

        SAVClassifier.check_save_target(args.out)
    start = time.perf_counter()
    if args.baselines and not args.test:
        raise SavsError(
            "fit --baselines needs --test: the baselines are measured on test "
            "examples (on the training set a nearest neighbour is always right)."
        )
    train = load_examples(args.train, question=args.question, workdir=args.workdir / "train")
    test = (
        load_examples(args.test, question=args.question, workdir=args.workdir / "test")
        if args.test
        else None
    )
    check_training_set(train, leave_one_out=args.scoring == "loo")  # before a slow model load
    adapter = _load(args, args.model)
    with progress_bar("extracting", not args.json) as bar:
        clf, acts = fit_with_activations(
            adapter,
            train,
            prompt=args.prompt,
            k=args.heads,
            scoring=args.scoring,
            batch_size=args.batch_size,
            progress=bar,
            checked=True,  # just above
        )  # acts: [N, L, H, d]
    result = {
        "model": adapter.name,
        "labels": clf.labels,
        "k": clf.k,
        "scoring": args.scoring,
        "k_auto": args.heads == "auto",
        "train_examples": len(train),
        "train_accuracy": clf.config.train_accuracy,
        "top_heads": [[h.layer, h.head] for h in clf.heads],
        "head_scores": clf.head_scores.tolist(),
        "num_layers": adapter.num_layers,
        "num_heads": adapter.num_heads,
        "head_dim": adapter.head_dim,
        "processes": distributed.world_size(),
        "k_curve": [[k, acc] for k, acc in clf.k_curve],  # from the fit's own cosines
    }
    if args.baseline == "zeroshot":
        result.update(_zeroshot_baseline(args, adapter, clf.labels, test or train))
    if test is not None:
        report, baselines = _test(args, adapter, clf, test, train, acts)
        result["test_examples"] = len(test)
        result["test_accuracy"] = report.accuracy
        if baselines is not None:
            result["baselines"] = _with_zero_shot(
                args, adapter, clf, test, baselines, result.get("zeroshot_accuracy")
            )
    if args.out and distributed.is_main_process():
        result["out"] = str(clf.save(args.out))
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result


def _zeroshot_baseline(args: argparse.Namespace, adapter, labels: list[str], examples) -> dict:
    """`fit --baseline zeroshot`: accuracy of the frozen model answering with a label itself."""
    from .baseline import zero_shot_accuracy

    with progress_bar("zero-shot", not args.json) as bar:
        accuracy = zero_shot_accuracy(
            adapter, examples, labels, args.prompt, args.batch_size, progress=bar
        )
    return {
        "zeroshot_accuracy": accuracy,
        "zeroshot_examples": len(examples),
        "zeroshot_on": "test" if args.test else "train",
    }


def _test(args: argparse.Namespace, adapter, clf, test, train, train_acts=None):
    """(report, baselines or None) on the test set: with `--baselines`, the SAVs predictions and
    the `savs.compare` baselines from one pass over the test set (savs.evaluate_with_baselines),
    the baselines fit on `train_acts` [N, L, H, d]."""
    from .pipeline import evaluate, evaluate_with_baselines

    if not args.baselines:
        with progress_bar("testing", not args.json) as bar:
            return evaluate(adapter, clf, test, args.batch_size, progress=bar)[0], None
    with progress_bar("testing", not args.json) as bar:
        report, _, baselines = evaluate_with_baselines(
            adapter, clf, test, train_acts, [ex.label for ex in train], args.batch_size, bar
        )
    return report, baselines


def _with_zero_shot(
    args: argparse.Namespace, adapter, clf, test, baselines: dict, zero_shot: float | None
) -> dict[str, float]:
    """`--baselines`: the zero-shot answer's test accuracy (already measured by `--baseline
    zeroshot`, or measured now) beside the `savs.compare` baselines."""
    from .baseline import zero_shot_accuracy

    if zero_shot is None:
        prompt = clf.config.prompt or None
        with progress_bar("zero-shot", not args.json) as bar:
            zero_shot = zero_shot_accuracy(
                adapter, test, clf.labels, prompt, args.batch_size, progress=bar
            )
    return {"zero_shot": zero_shot, **baselines}


def _classifier_and_model(args: argparse.Namespace):
    from .classifier import SAVClassifier

    clf = SAVClassifier.load(args.classifier)
    # the model is cut after the deepest selected layer: nothing deeper is ever run; baselines
    # (zero-shot answers, every head) need it whole
    whole = args.whole_model or getattr(args, "baselines", False) or not clf.heads
    layers = None if whole else clf.deepest_layer + 1
    adapter = _load(args, args.model or clf.config.model or "", layers)
    if adapter.num_layers < adapter.full_layers and not args.json:
        print(
            f"loaded {adapter.num_layers} of {adapter.name}'s {adapter.full_layers} layers: the "
            f"classifier reads none deeper (--whole-model loads all)",
            file=sys.stderr,
        )
    if args.model:
        # the user named the model on purpose (e.g. the recorded folder moved): accept the new
        # name; check_compatible still refuses a model of another shape
        clf.config.model = adapter.name
    return clf, adapter


def cmd_eval(args: argparse.Namespace) -> dict:
    from .data import load_examples

    if args.baselines and not args.train:
        raise SavsError(
            "eval --baselines needs --train, the examples the classifier was fit "
            "on: the baselines are fit on them."
        )
    test = load_examples(args.test, question=args.question, workdir=args.workdir / "test")
    train = (
        load_examples(args.train, question=args.question, workdir=args.workdir / "train")
        if args.baselines
        else None
    )
    clf, adapter = _classifier_and_model(args)
    train_acts = _training_activations(args, adapter, clf, train) if train is not None else None
    report, baselines = _test(args, adapter, clf, test, train, train_acts)
    result = {**report.to_json(), "test_examples": len(test)}
    if baselines is not None:
        result["baselines"] = _with_zero_shot(args, adapter, clf, test, baselines, None)
    return result


def _training_activations(args: argparse.Namespace, adapter, clf, train):
    """`eval --baselines`: every head of the training examples the classifier was fit on,
    read with its prompt: [N, L, H, d]."""
    from .activations import extract

    seen = {ex.label for ex in train}
    unknown = sorted(seen - set(clf.labels))
    missing = [lab for lab in clf.labels if lab not in seen]
    if unknown or missing:
        problem = (
            f"class {unknown[0]!r} is not one of the classifier's"
            if unknown
            else f"no example of the classifier's class {missing[0]!r}"
        )
        raise DataError(
            f"{Path(args.train).name}: {problem}; give --train the examples the "
            "classifier was fit on."
        )
    prompt = clf.config.prompt or None
    with progress_bar("extracting", not args.json) as bar:
        return extract(adapter, train, prompt, args.batch_size, progress=bar)  # [N, L, H, d]


def cmd_predict(args: argparse.Namespace) -> dict:
    from .data import Example, parse_record
    from .pipeline import predict

    if not args.image and not args.text:
        raise SavsError("predict needs an input: --image PATH (repeatable) and/or --text TEXT.")
    record = {"question": args.text}
    if args.image:
        record["image"] = args.image
    example: Example = parse_record(record, "command line", base_dir=Path("."), require_label=False)
    clf, adapter = _classifier_and_model(args)
    if not args.explain:
        return predict(adapter, clf, [example])[0].to_json()
    from .explanation import explain_prediction

    prediction, explanations = explain_prediction(adapter, clf, example)  # one forward pass
    return {**prediction.to_json(), "explanations": [e.to_json() for e in explanations]}


def cmd_export_space(args: argparse.Namespace) -> dict:
    from .export_space import PUSH_HINT, export_space

    out = export_space(args.classifier, args.out, title=args.title, text=args.text)
    files = [p for p in out.rglob("*") if p.is_file()]
    return {
        "out": str(out),
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "push": PUSH_HINT.format(out=out),
    }


def cmd_compare(args: argparse.Namespace) -> dict:
    from .classifier import SAVClassifier
    from .overlap import head_overlap

    stems = [Path(p).name.removesuffix(".zip") for p in args.classifiers]
    names = stems if len(set(stems)) == len(stems) else list(args.classifiers)
    if len(set(names)) < len(names):
        raise ClassifierError("a classifier is named twice")
    return head_overlap({n: SAVClassifier.load(p) for n, p in zip(names, args.classifiers)})


def _print_compare(result: dict) -> None:
    for name, c in result["classifiers"].items():
        print(f"{name}: {c['k']} heads in layers {', '.join(map(str, c['layers']))}")
    for pair in result["pairs"]:
        shared = ", ".join(f"({a},{b})" for a, b in pair["shared"]) or "none"
        print(f"{pair['a']} & {pair['b']}: {len(pair['shared'])} shared ({shared})")


def _print_human(command: str, result: dict) -> None:
    if command == "compare":
        _print_compare(result)
    elif command == "export-space":
        print(
            f"wrote {result['out']} ({result['files']} files, {result['bytes'] / 1e6:.1f} MB: "
            f"app.py, the classifier, savs, requirements.txt, README.md); push it with: "
            f"{result['push']}"
        )
    elif command == "fit":
        print(
            f"{result['model']}: {result['num_layers']} layers x {result['num_heads']} heads; "
            f"kept {result['k']} heads ({result['scoring']})"
        )
        print(f"classes: {', '.join(result['labels'])}")
        if result["k_auto"]:
            best_k, best = max(result["k_curve"], key=lambda kv: (kv[1], -kv[0]))
            print(
                f"k = auto: the fewest heads within one point of the best training accuracy "
                f"({best:.3f} with {best_k} heads)"
            )
        print(f"train accuracy: {result['train_accuracy']:.3f}")
        if "test_accuracy" in result:
            print(f"test accuracy:  {result['test_accuracy']:.3f} on {result['test_examples']}")
        if "zeroshot_accuracy" in result:
            print(
                f"zero-shot accuracy ({result['zeroshot_on']}): "
                f"{result['zeroshot_accuracy']:.3f} on {result['zeroshot_examples']}"
            )
        _print_baselines(result, result.get("test_accuracy"))
        top = ", ".join(f"({a},{b})" for a, b in result["top_heads"][:10])
        print("top heads (layer, head): " + top + (" ..." if result["k"] > 10 else ""))
        if "out" in result:
            print(f"saved classifier to {result['out']}")
        print(f"{result['seconds']:.1f} s")
    elif command == "eval":
        print(f"accuracy: {result['accuracy']:.3f} on {result['test_examples']} examples")
        for label, m in result["per_class"].items():
            print(
                f"  {label:>20}: precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
                f"support {m['support']}"
            )
        _print_baselines(result, result["accuracy"])
    elif command == "predict":
        shares = ", ".join(
            f"{k} {v:.2f}"
            for k, v in sorted(result["probabilities"].items(), key=lambda kv: -kv[1])
        )
        print(f"{result['label']}  ({shares})")
        for e in result.get("explanations", []):
            top = sorted(zip(e["attention"], e["tokens"]), reverse=True)[:3]
            looks = ", ".join(f"{token!r} {weight:.2f}" for weight, token in top)
            print(f"  head ({e['layer']},{e['head']}) votes {e['vote']}; looks at {looks}")


def _print_baselines(result: dict, savs_accuracy: float | None) -> None:
    if "baselines" not in result:
        return
    from .compare import DISPLAY_NAMES

    print(f"test accuracy of SAVs and baselines on {result['test_examples']} examples:")
    savs_name = f"SAVs ({result['k']} heads)" if "k" in result else "SAVs"
    print(f"  {savs_name:>22}: {savs_accuracy:.3f}")
    for name, accuracy in result["baselines"].items():
        print(f"  {DISPLAY_NAMES.get(name, name):>22}: {accuracy:.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "models":
        from .models.registry import BUNDLED, HUB_SUGGESTIONS

        for spec in BUNDLED.values():
            print(f"{spec.name:10} {spec.description}")
        print("hub (internet + GPU): " + ", ".join(HUB_SUGGESTIONS))
        return 0
    commands = {"fit": cmd_fit, "eval": cmd_eval, "predict": cmd_predict, "compare": cmd_compare}
    commands["export-space"] = cmd_export_space
    # library warnings (duplicate examples ...) read like errors: one line, no source location
    library_format, warnings.formatwarning = (
        warnings.formatwarning,
        lambda message, *_args, **_kw: f"warning: {printable(str(message), keep='')}\n",
    )
    try:
        # .zip datasets are extracted here, and removed when the command ends
        with tempfile.TemporaryDirectory(prefix="savs-cli-") as workdir:
            args.workdir = Path(workdir)
            result = commands[args.command](args)
    except SavsError as exc:
        print(f"error: {printable(str(exc), keep='')}", file=sys.stderr)
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
        human = io.StringIO()
        with redirect_stdout(human):
            _print_human(args.command, result)
        sys.stdout.write(printable(human.getvalue()))  # labels may hold escape codes
    return 0


if __name__ == "__main__":
    sys.exit(main())
