"""What the CLI prints: one terminal-safe line per fact, tqdm progress on stderr.

Labels and paths come from data files someone else wrote, so everything printed goes through
`printable` (escape codes, bidi controls made visible)."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

from .. import distributed

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


def _print_compare(result: dict) -> None:
    for name, c in result["classifiers"].items():
        print(f"{name}: {c['k']} heads in layers {', '.join(map(str, c['layers']))}")
    for pair in result["pairs"]:
        shared = ", ".join(f"({a},{b})" for a, b in pair["shared"]) or "none"
        print(f"{pair['a']} & {pair['b']}: {len(pair['shared'])} shared ({shared})")


def print_human(command: str, result: dict) -> None:
    if command == "compare":
        _print_compare(result)
    elif command == "export-space":
        print(
            f"wrote {result['out']} ({result['files']} files, {result['bytes'] / 1e6:.1f} MB: "
            f"app.py, the classifier, savs, studio, requirements.txt, README.md); push it with: "
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
    from ..compare import DISPLAY_NAMES

    print(f"test accuracy of SAVs and baselines on {result['test_examples']} examples:")
    savs_name = f"SAVs ({result['k']} heads)" if "k" in result else "SAVs"
    print(f"  {savs_name:>22}: {savs_accuracy:.3f}")
    for name, accuracy in result["baselines"].items():
        print(f"  {DISPLAY_NAMES.get(name, name):>22}: {accuracy:.3f}")


__all__ = ["printable", "progress_bar", "print_human"]
