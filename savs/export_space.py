"""Take a classifier with you: a folder ready to push as a Gradio Space.

`export_space(classifier, out)` writes a Space that classifies with that classifier only: a
small `app.py` (savs/space_template/app.py, the same for every export: what differs lives in
`space.json`), the classifier as saved, a copy of the `savs` package itself (so the folder
needs nothing from this repository; the bundled `tiny` model's files ride inside it as
savs/assets/tiny), the app's guards against gradio's own memory and queue (four modules of
`studio` that import nothing of the app, copied as files: savs imports none),
`requirements.txt` pinned to the versions installed here (what the tests ran with) and
README.md with Spaces front matter. Visitors can classify an image and/or a text, from a file
or the live webcam; they cannot load another model or import data. Nothing here imports
gradio: the library stands without it.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import sys
import unicodedata
from pathlib import Path

from .artifact import CONFIG_FILE, TENSORS_FILE
from .classifier import SAVClassifier
from .errors import ClassifierError, SavsError
from .markup import md

TEMPLATE = Path(__file__).resolve().parent / "space_template" / "app.py"
# what the exported app imports, pinned to the versions installed here (requirements.txt pins
# the same ones; tests/test_export_space.py checks they agree). num2words: SmolVLM's processor.
SPACE_PACKAGES = (
    "torch",
    "transformers",
    "safetensors",
    "pillow",
    "numpy",
    "tqdm",
    "plotly",
    "gradio",
    "num2words",
)
# the Hub's limits on the front matter (short_description: 60 characters; the title is kept
# short enough to show whole on a Space card)
TITLE_CHARS = 30
DESCRIPTION_CHARS = 60
# the bundled tiny model's files the Space loads (its training logs stay behind)
TINY_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "processor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "README.md",
)
# studio's modules an exported Space runs as the app does (each imports nothing else of the
# app): sessions without a config copy, upload ids forgotten, webcams' places in the queue,
# memory handed back after big requests
STUDIO_GUARDS = ("gradio_state.py", "upload_progress.py", "queue_caps.py", "allocator.py")
GUARDS_INIT = (
    '"""SAVs Studio\'s guards against gradio\'s own memory and queue, as the app runs them '
    '(copied by `python -m savs export-space`; the app itself is not here)."""\n'
)
PUSH_HINT = "hf upload --repo-type space YOUR-NAME/SPACE-NAME {out} ."
# characters YAML refuses or reads as line breaks, and invisible ones (bidi, zero-width):
# control, format, surrogate, private-use, unassigned, line and paragraph separators
_DROPPED = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def export_space(
    classifier_path: str | Path,
    out_dir: str | Path,
    *,
    title: str | None = None,
    text: str = "",
) -> Path:
    """Write a Space for the classifier at `classifier_path` (folder or .zip) into `out_dir`
    (new or empty). `title` names the Space (default: from its labels); `text` is the text
    sent with each input unless the visitor changes it (e.g. the question the training
    examples asked). Returns the folder. Raises SavsError (a ClassifierError for a missing or
    invalid classifier) before anything is written."""
    source = Path(classifier_path)
    clf = SAVClassifier.load(source, require_model=True)
    model = str(clf.config.model)
    _check_model_name(model)
    if not clf.heads:
        raise ClassifierError(f"{source.name}: the classifier has no heads to vote.")
    out = _new_folder(Path(out_dir))
    try:
        _write(out, source, clf, model, title, text)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return out


def _write(
    out: Path, source: Path, clf: SAVClassifier, model: str, title: str | None, text: str
) -> None:
    shutil.copyfile(TEMPLATE, out / "app.py")
    if source.is_dir():
        (out / "classifier").mkdir()
        for name in (TENSORS_FILE, CONFIG_FILE):
            shutil.copyfile(source / name, out / "classifier" / name)
        stored = "classifier"
    else:
        shutil.copyfile(source, out / "classifier.zip")
        stored = "classifier.zip"
    copy_library(out / "savs", model)
    copy_guards(out / "studio")
    name = space_title(title, clf.labels)
    settings = {"title": name, "text": text, "classifier": stored}
    (out / "space.json").write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
    (out / "requirements.txt").write_text(requirements())
    (out / "README.md").write_text(space_readme(name, clf, model))
    (out / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")


def _check_model_name(model: str) -> None:
    """A Space loads bundled names and hub ids only: a folder on this machine is not there."""
    from .models.registry import _MODEL_NAME, BUNDLED, looks_like_path

    if model in BUNDLED:
        return
    if looks_like_path(model) or not _MODEL_NAME.fullmatch(model):
        raise ClassifierError(
            f"the classifier's model {model!r} is not a bundled name ({', '.join(BUNDLED)}) or "
            "a hub id: a Space cannot read a folder on this machine. Push the model to the "
            "Hub and fit the classifier with its id."
        )


def _new_folder(out: Path) -> Path:
    """`out`, created: it must not exist yet, or be an empty folder."""
    if out.exists() and not out.is_dir():
        raise SavsError(f"cannot export to '{out}': it is a file; give a new folder.")
    if out.is_dir() and any(out.iterdir()):
        raise SavsError(f"cannot export to '{out}': the folder is not empty; give a new one.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SavsError(f"cannot create '{out}': {exc.strerror or exc}.") from None
    return out


def copy_library(dest: Path, model: str) -> None:
    """This `savs` package's source into `dest`, without caches, the Space template or the
    assets, plus the bundled model's files when the classifier's model is `tiny`."""
    here = Path(__file__).resolve().parent
    shutil.copytree(
        here, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "space_template")
    )
    shutil.rmtree(dest / "assets", ignore_errors=True)  # an installed package ships them
    if model == "tiny":
        from .models.registry import ASSETS

        (dest / "assets" / "tiny").mkdir(parents=True)
        for name in TINY_FILES:
            shutil.copyfile(ASSETS / "tiny" / name, dest / "assets" / "tiny" / name)


def copy_guards(dest: Path) -> None:
    """STUDIO_GUARDS from the `studio` package installed beside this one, into `dest`."""
    source = Path(__file__).resolve().parents[1] / "studio"
    missing = [name for name in STUDIO_GUARDS if not (source / name).is_file()]
    if missing:
        raise SavsError(
            "export-space copies parts of the app (the studio package) into the Space, and "
            f"{', '.join(missing)} is not installed beside savs: pip install 'savs[app]'."
        )
    dest.mkdir()
    (dest / "__init__.py").write_text(GUARDS_INIT)
    for name in STUDIO_GUARDS:
        shutil.copyfile(source / name, dest / name)


def requirements() -> str:
    """requirements.txt for the Space: each package the app imports at the version installed
    here (what the tests ran with; the repository's requirements.txt pins the same)."""
    lines = [
        "# The versions the exporting machine ran (savs's own requirements.txt pins the same).",
        "# torch from PyPI is a CUDA build on Linux: right for a GPU Space; it runs on CPU too.",
    ]
    for name in SPACE_PACKAGES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise SavsError(
                f"export-space pins the versions installed here, and {name} is not installed: "
                "pip install -r requirements.txt (or pip install 'savs[app]')."
            ) from None
        lines.append(f"{name}=={version.split('+')[0]}")  # 2.13.0+cpu is release 2.13.0
    return "\n".join(lines) + "\n"


def one_line(text: object, limit: int) -> str:
    """`text` as one line of at most `limit` characters that YAML reads back as written:
    control, invisible and line-breaking characters dropped, whitespace runs made one space,
    cut with an ellipsis."""
    kept = "".join(
        " " if c.isspace() else c
        for c in str(text)
        if c.isspace() or unicodedata.category(c) not in _DROPPED
    )
    s = " ".join(kept.split())
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def space_title(title: str | None, labels: list[str]) -> str:
    """The Space's title: `title`, else its labels, one line within TITLE_CHARS."""
    name = one_line(title or "", TITLE_CHARS)
    return name or one_line("SAVs: " + ", ".join(labels), TITLE_CHARS) or "SAVs classifier"


def _kind(clf: SAVClassifier) -> str:
    """What the classifier reads, from the model class it recorded: a causal LM reads text."""
    model_class = str(clf.config.model_class or "")
    if not model_class:
        return "input"
    return "text" if model_class.endswith("ForCausalLM") else "image"


def front_matter(title: str, clf: SAVClassifier, model: str) -> str:
    """The Spaces configuration block: every string a JSON string (valid YAML double-quoted
    scalars), so a label or title cannot add keys or break the block."""
    from .models.registry import BUNDLED

    description = one_line(
        f"Classifies {_kind(clf)}s as {', '.join(clf.labels)}", DESCRIPTION_CHARS
    )
    hub_id = BUNDLED[model].hub_id if model in BUNDLED else model
    fields = {
        "title": one_line(title, TITLE_CHARS) or "SAVs classifier",
        "emoji": "🔍",
        "colorFrom": "indigo",
        "colorTo": "pink",
        "sdk": "gradio",
        "sdk_version": importlib.metadata.version("gradio"),
        "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
        "app_file": "app.py",
        "pinned": False,
        "short_description": description,
    }
    lines = [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in fields.items()]
    if hub_id:
        lines += ["models:", f"  - {json.dumps(hub_id)}"]
    return "---\n" + "\n".join(lines) + "\n---\n"


def space_readme(title: str, clf: SAVClassifier, model: str) -> str:
    """README.md of the Space: front matter, what it does, how to call it."""
    layers = clf.deepest_layer + 1
    labels = ", ".join(md(lab, 60) for lab in clf.labels[:50])
    return (
        front_matter(title, clf, model) + f"\n# {md(title)}\n\n"
        f"A few-shot classifier made with [SAVs](https://arxiv.org/abs/2412.00142) (Sparse "
        f"Attention Vectors): {clf.k} attention heads of `{md(model)}` vote for one of "
        f"{len(clf.labels)} classes: {labels}. The model is loaded with its first {layers} "
        "decoder layers only: the classifier reads none deeper.\n\n"
        "Call it from Python (`pip install gradio_client`):\n\n"
        "```python\n"
        "from gradio_client import Client, handle_file\n\n"
        'client = Client("YOUR-NAME/SPACE-NAME")\n'
        'label, bars = client.predict(handle_file("picture.png"), "", api_name="/classify")\n'
        'print(label["label"], label["confidences"])\n'
        "```\n\n"
        "`/classify` takes an image file (or None) and a text, and returns the label with each "
        "class's vote share, and the vote bars (a plot). Written by `python -m savs "
        "export-space`.\n"
    )


__all__ = ["export_space", "front_matter", "one_line", "requirements", "space_title"]
