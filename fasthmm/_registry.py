"""The model classes, by name: what :func:`fasthmm.load` rebuilds, and the
families everything else is generated from.

Every subclass of :class:`fasthmm.base.BaseHMM` registers itself under its
class name when it is defined, so a user's own model class can be saved and
loaded as long as it is defined (imported) before :func:`fasthmm.load` runs.

A class defined with a family name (``class BernoulliHMM(BaseHMM,
family="bernoulli")``) is also one of fasthmm's emission families: the
package exports it (``fasthmm`` and ``fasthmm.hmm``), the command line offers
it as ``--model bernoulli``, the user guide's model table lists it (a test
checks the table against :func:`families`), and the test suite runs every
contract test over it.

fasthmm imports some of its own model modules on first use (see
``fasthmm/__init__.py``): :func:`families` and :func:`model_classes` import
them first, so that every family and every saved kind is found.
"""

import importlib
import threading
from collections.abc import Mapping

_CLASSES = {}
_FAMILIES = {}
_ON_DEMAND = []
_IMPORTING = threading.RLock()


def import_on_demand(modules):
    """Modules (absolute names) that define model classes and are imported
    the first time :func:`families` or :func:`model_classes` is called."""
    _ON_DEMAND.extend(m for m in modules if m not in _ON_DEMAND)


def _import_deferred():
    with _IMPORTING:
        while _ON_DEMAND:
            module = _ON_DEMAND.pop(0)
            try:
                importlib.import_module(module)
            except BaseException:
                _ON_DEMAND.insert(0, module)
                raise


def name_of(cls):
    """The name ``cls`` is saved and registered under: its ``_registry_name``
    when its class body sets one (e.g. ``"hmm.GaussianHMM"`` for the hmmlearn
    namespace's class, which shares fasthmm's class name), else its name."""
    return cls.__dict__.get("_registry_name") or cls.__name__


def register(cls, name=None, family=None):
    """Make ``cls`` loadable under ``name`` (default: :func:`name_of`).

    A later class of the same name replaces an earlier one, as a redefinition
    in an interactive session would. With ``family``, ``cls`` is also the
    model of that emission family (see :func:`families`).

    Returns
    -------
    cls
    """
    _CLASSES[name_of(cls) if name is None else name] = cls
    if family is not None:
        _FAMILIES[family] = cls
    return cls


def model_classes():
    """Name -> class of every registered model class."""
    _import_deferred()
    return dict(_CLASSES)


def model_class(name):
    """The class registered under ``name`` (None when there is none),
    importing the modules fasthmm loads on first use only when no module
    imported so far registered it (no two of fasthmm's modules register one
    name: saving or loading a GaussianHMM imports no other model module)."""
    if name not in _CLASSES:
        _import_deferred()
    return _CLASSES.get(name)


def families(loaded=False):
    """Family name (the command line's ``--model``) -> model class, in the
    order the classes were defined.

    With ``loaded``, only the families of the modules imported so far
    (without importing those fasthmm loads on first use)."""
    if not loaded:
        _import_deferred()
    return dict(_FAMILIES)


class Families(Mapping):
    """:func:`families` as a mapping that imports the modules fasthmm loads
    on first use only when asked for a family it has not seen yet (or for
    the whole list): the command line's ``--model`` choices, so that
    ``fasthmm fit --model gaussian`` imports no other model module."""

    def __getitem__(self, name):
        if name not in _FAMILIES:
            _import_deferred()
        return _FAMILIES[name]

    def __contains__(self, name):
        try:
            self[name]
        except (KeyError, TypeError):
            return False
        return True

    def __iter__(self):
        return iter(families())

    def __len__(self):
        return len(families())
