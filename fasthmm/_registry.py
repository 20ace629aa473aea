"""The model classes :func:`fasthmm.load` can rebuild, by name.

Every subclass of :class:`fasthmm.base.BaseHMM` registers itself under its
class name when it is defined, so a user's own model class can be saved and
loaded as long as it is defined (imported) before :func:`fasthmm.load` runs.
"""

_CLASSES = {}


def name_of(cls):
    """The name ``cls`` is saved and registered under: its ``_registry_name``
    when its class body sets one (e.g. ``"hmm.GaussianHMM"`` for the hmmlearn
    namespace's class, which shares fasthmm's class name), else its name."""
    return cls.__dict__.get("_registry_name") or cls.__name__


def register(cls, name=None):
    """Make ``cls`` loadable under ``name`` (default: :func:`name_of`).

    A later class of the same name replaces an earlier one, as a redefinition
    in an interactive session would.

    Returns
    -------
    cls
    """
    _CLASSES[name_of(cls) if name is None else name] = cls
    return cls


def model_classes():
    """Name -> class of every registered model class."""
    return dict(_CLASSES)
