"""The CLI's commands: each takes the parsed arguments and returns the result as a dict (what
`--json` prints). Model-running work is the library's (`savs.pipeline`); imports are deferred
so that `python -m savs --help` loads no torch."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import distributed
from ..errors import ClassifierError, DataError, SavsError
from .output import progress_bar


def _load(
    args: argparse.Namespace,
    name: str,
    layers: int | None = None,
    max_image_tokens: int | None = None,
):
    from ..models import load_model

    dtype = None if args.dtype == "auto" else args.dtype
    device = args.device or distributed.device()  # under accelerate: this process's device
    return load_model(
        name,
        device=device,
        dtype=dtype,
        device_map=args.device_map,
        trust_remote_code=args.trust_remote_code,
        layers=layers,
        max_image_tokens=max_image_tokens,
    )


def cmd_fit(args: argparse.Namespace) -> dict:
    from ..data import check_training_set
    from ..pipeline import fit_with_activations

    if args.out:  # before anything slow: a bad --out must not cost a whole fit
        from ..classifier import SAVClassifier

        SAVClassifier.check_save_target(args.out)
    start = time.perf_counter()
    if args.baselines and not args.test:
        raise SavsError(
            "fit --baselines needs --test: the baselines are measured on test "
            "examples (on the training set a nearest neighbour is always right)."
        )
    train = _examples(args, "train")
    test = _examples(args, "test") if args.test else None
    check_training_set(train, leave_one_out=args.scoring == "loo")  # before a slow model load
    adapter = _load(args, args.model, max_image_tokens=args.max_image_tokens)
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
        "max_image_tokens": adapter.max_image_tokens,
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


def _examples(args: argparse.Namespace, part: str):
    """The examples of --train or --test (`part`); a .zip is extracted into the command's
    work folder, under `part`."""
    from ..data import load_examples

    return load_examples(getattr(args, part), question=args.question, workdir=args.workdir / part)


def _zeroshot_baseline(args: argparse.Namespace, adapter, labels: list[str], examples) -> dict:
    """`fit --baseline zeroshot`: accuracy of the frozen model answering with a label itself."""
    from ..baseline import zero_shot_accuracy

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
    from ..pipeline import evaluate, evaluate_with_baselines

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
    from ..baseline import zero_shot_accuracy

    if zero_shot is None:
        prompt = clf.config.prompt or None
        with progress_bar("zero-shot", not args.json) as bar:
            zero_shot = zero_shot_accuracy(
                adapter, test, clf.labels, prompt, args.batch_size, progress=bar
            )
    return {"zero_shot": zero_shot, **baselines}


def _classifier_and_model(args: argparse.Namespace):
    from ..classifier import SAVClassifier
    from ..pipeline import recorded_image_tokens

    clf = SAVClassifier.load(args.classifier)
    # the model is cut after the deepest selected layer: nothing deeper is ever run; baselines
    # (zero-shot answers, every head) need it whole
    whole = args.whole_model or getattr(args, "baselines", False) or not clf.heads
    layers = None if whole else clf.deepest_layer + 1
    # the resolution policy the fit used, so the heads read the image tokens they were fitted on
    tokens = recorded_image_tokens(clf)
    adapter = _load(args, args.model or clf.config.model or "", layers, tokens)
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
    if args.baselines and not args.train:
        raise SavsError(
            "eval --baselines needs --train, the examples the classifier was fit "
            "on: the baselines are fit on them."
        )
    test = _examples(args, "test")
    train = _examples(args, "train") if args.baselines else None
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
    from ..activations import extract

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
    from ..data import Example, parse_record
    from ..pipeline import predict

    if not args.image and not args.text:
        raise SavsError("predict needs an input: --image PATH (repeatable) and/or --text TEXT.")
    record = {"question": args.text}
    if args.image:
        record["image"] = args.image
    example: Example = parse_record(record, "command line", base_dir=Path("."), require_label=False)
    clf, adapter = _classifier_and_model(args)
    if not args.explain:
        return predict(adapter, clf, [example])[0].to_json()
    from ..explanation import explain_prediction

    prediction, explanations = explain_prediction(adapter, clf, example)  # one forward pass
    return {**prediction.to_json(), "explanations": [e.to_json() for e in explanations]}


def cmd_export_space(args: argparse.Namespace) -> dict:
    from ..export_space import PUSH_HINT, export_space

    out = export_space(args.classifier, args.out, title=args.title, text=args.text)
    files = [p for p in out.rglob("*") if p.is_file()]
    return {
        "out": str(out),
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "push": PUSH_HINT.format(out=out),
    }


def cmd_compare(args: argparse.Namespace) -> dict:
    from ..classifier import SAVClassifier
    from ..overlap import head_overlap

    stems = [Path(p).name.removesuffix(".zip") for p in args.classifiers]
    names = stems if len(set(stems)) == len(stems) else list(args.classifiers)
    if len(set(names)) < len(names):
        raise ClassifierError("a classifier is named twice")
    return head_overlap({n: SAVClassifier.load(p) for n, p in zip(names, args.classifiers)})


__all__ = ["cmd_fit", "cmd_eval", "cmd_predict", "cmd_export_space", "cmd_compare"]
