"""User-facing errors.

Everything a user can cause (a bad file, an unknown model, too few classes) raises a subclass of
`SavsError` whose message names the file / line / field at fault and says what to do. The CLI
prints it on one line and exits with code 2; the app shows it as a `gr.Error`. Anything else is a
bug and keeps its traceback.
"""


class SavsError(Exception):
    """Base class: a problem with the user's input, not with the code."""


class DataError(SavsError):
    """Examples, images, JSONL lines or archives that cannot be used."""


class ModelError(SavsError):
    """A model that cannot be found, loaded or used with SAVs."""


class ClassifierError(SavsError):
    """A saved classifier that is corrupt, or does not match the model in use."""
