"""hmmlearn's ``hmmlearn.hmm`` names, so that ``from fasthmm import hmm`` is a
drop-in for ``from hmmlearn import hmm``: every emission family's model
(see :mod:`fasthmm._registry`)."""

from . import models  # noqa: F401  (defines and registers the families)
from ._registry import families as _families

globals().update({cls.__name__: cls for cls in _families().values()})

__all__ = [cls.__name__ for cls in _families().values()]
