"""What a person does in the app, as plain methods: import, extract, refit, classify, evaluate,
export. The state they act on is `studio.session.Session`; each kind of action has its own
module (`datasets`, `fitting`, `classifying`), and `Studio` is all of them on one session.

Why a library class: the Gradio app (studio/app.py) stays a thin layer of small callbacks, and every
capability is unit-tested here without a browser. Actions that run a model take a
`ModelAdapter` (the app lends one from its `ModelPool`); the model-running work itself is
`savs.pipeline`'s, so the CLI, the library and the app share one orchestration path.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from savs import plots
from savs.classifier import SCORINGS, SAVClassifier
from savs.data import Example, zip_folder
from savs.errors import ClassifierError
from savs.export_space import export_space
from savs.models.adapter import ModelAdapter
from savs.pipeline import check_compatible, for_classifier

from .classifying import ClassifyActions
from .comparing import CompareActions
from .datasets import EXAMPLES_ENV, DatasetActions, examples_root, list_example_tasks
from .drawn import forget_session
from .fitting import FitActions
from .inspecting import InspectActions
from .session import Classification, Evaluation


@dataclass
class Studio(DatasetActions, FitActions, InspectActions, ClassifyActions, CompareActions):
    """A session with its actions. `export_dir` is the one folder its downloads live in."""

    export_dir: str = field(default="", repr=False)
    # the class cards' thumbnails as files, one per example, drawn once (tile_files)
    tile_dir: str = field(default="", repr=False)
    tiles: dict = field(default_factory=dict, repr=False, compare=False)

    def tile_files(self, examples: Sequence[Example], side: int) -> list[str]:
        """Each example's thumbnail (`savs.plots.example_tile`) as a PNG file in the session's
        tile folder, drawn the first time it is asked for. The cards give gradio these paths:
        a redraw after each edit draws no picture again, and gradio's copy of the page's
        components holds names, not pictures (PIL tiles kept ~27 MB per 1,000 examples for
        each session, beyond its budget). `examples`: all that the page shows (tiles of any
        other example are deleted)."""
        if not self.tile_dir:
            self.tile_dir = tempfile.mkdtemp(prefix="savs-tiles-")
        folder = Path(self.tile_dir)  # (close_tiles, called meanwhile, empties the field)
        kept: dict[int, tuple[Example, str]] = {}
        for ex in examples:
            # by the example object (a frozen dataclass the session holds): its id cannot be
            # reused while it is a key here, as the entry keeps the object itself
            entry = self.tiles.get(id(ex))
            if entry is None:
                folder.mkdir(exist_ok=True)
                path = str(folder / f"tile-{secrets.token_hex(8)}.png")
                plots.example_tile(ex.images, ex.text, side).save(path, compress_level=1)
                entry = (ex, path)
            kept[id(ex)] = entry
        for key, (_, path) in self.tiles.items():
            if key not in kept:
                Path(path).unlink(missing_ok=True)
        self.tiles = kept
        return [kept[id(ex)][1] for ex in examples]

    def new_export_path(self, filename: str) -> Path:
        """Where the next download goes: the session's one export folder, emptied first."""
        self.close_files()
        self.export_dir = tempfile.mkdtemp(prefix="savs-out-")
        return Path(self.export_dir) / filename

    def close(self, why: str = "") -> None:
        """The session ended: drop everything it holds (pixels, activations, downloads). With
        `why` (the server cleared it: idle too long, or memory needed), its next action is told
        (`cleared`)."""
        self.close_files()
        self.close_tiles()
        self.classes, self.activations, self.classifier, self.curve = {}, None, None, None
        self.kept = {}
        self.last_classification = self.last_evaluation = self.last_removal = None
        self.class_attention = self.ablation = None
        self.fitted_revision, self.task, self.recording, self.record_left = None, "", "", 0
        self.new_revision()
        self.cleared = why
        forget_session(self)  # what its page showed held the objects just dropped

    def close_files(self) -> None:
        """Delete the session's export folder (on each export, and when the session ends)."""
        if self.export_dir:
            shutil.rmtree(self.export_dir, ignore_errors=True)
            self.export_dir = ""

    def close_tiles(self) -> None:
        """Delete the session's thumbnails (when the session ends)."""
        if self.tile_dir:
            shutil.rmtree(self.tile_dir, ignore_errors=True)
            self.tile_dir, self.tiles = "", {}

    def export_classifier(self, archive: str | Path) -> Path:
        if self.classifier is None:
            raise ClassifierError("no classifier to export yet: click 'Extract' first.")
        return self.classifier.save(Path(archive))

    def export_space(self, archive: str | Path) -> Path:
        """The classifier as a Space ready to push (`savs.export_space`), zipped: its app, the
        classifier, the savs library, pinned requirements and front matter."""
        if self.classifier is None:
            raise ClassifierError("no classifier to export yet: click 'Extract' first.")
        with tempfile.TemporaryDirectory(prefix="savs-space-") as tmp:
            saved = self.classifier.save(Path(tmp) / "classifier.zip")
            space = export_space(saved, Path(tmp) / "space")
            return zip_folder(space, archive)

    def import_classifier(
        self, path: str | Path, adapter: ModelAdapter | None = None
    ) -> SAVClassifier:
        """Load a classifier .zip; with an adapter, refuse one made with another model. It
        stands for the session's current classes until they change."""
        return self.import_classifier_object(SAVClassifier.load(path), adapter)

    def import_classifier_object(
        self, clf: SAVClassifier, adapter: ModelAdapter | None = None
    ) -> SAVClassifier:
        """Adopt a loaded classifier (checked against `adapter`, the model it names)."""
        if adapter is not None:  # its resolution policy too: within the server's bound
            check_compatible(clf, for_classifier(adapter, clf))
        self._fitted(clf)
        self.activations, self.curve = None, None  # it came without training activations
        self.k = clf.k
        if clf.config.scoring in SCORINGS:
            self.scoring = clf.config.scoring
        return clf


__all__ = [
    "Studio",
    "Classification",
    "Evaluation",
    "examples_root",
    "list_example_tasks",
    "EXAMPLES_ENV",
]
