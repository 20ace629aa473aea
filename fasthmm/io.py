"""Saving and loading models: one ``.npz`` file, no pickle.

A saved model is a NumPy ``.npz`` archive holding

* ``__fasthmm_header__``: a 0-d string array with a JSON object::

      {"format": "fasthmm-model", "format_version": 1,
       "fasthmm_version": "0.1.0", "class": "GaussianHMM",
       "params": {...constructor arguments...},
       "fitted": ["startprob_", "transmat_", "means_", "covars_"],
       "monitor": {"history": [...], "iter": 5, "tol": 0.01,
                   "n_iter": 10, "verbose": false},
       "notes": [...]}

  A constructor argument that is an array (a prior, say) is written as
  ``{"__array__": "hyper/<name>"}`` and stored under that key in the archive.
* ``param/<name>``: each fitted array (``startprob_``, ``transmat_`` and the
  emission's parameters, as listed by the class's ``_param_names()``).
* ``hyper/<name>``: array-valued constructor arguments.

Nothing is pickled on either side (``np.load(..., allow_pickle=False)``), so
loading a file from an untrusted source cannot execute code: the class is
looked up by name among the registered model classes and built from plain
numbers, strings and float arrays.

The format is generic over :class:`fasthmm.base.BaseHMM` subclasses: every
subclass registers itself by class name when it is defined
(:mod:`fasthmm._registry`), so fasthmm's models and a user's own subclasses
are saved and loaded without changes here (a user's class must be defined
before :func:`load_model` reads a file naming it).
"""

import json
import numbers
import os

import numpy as np

from ._registry import model_classes, name_of
from ._version import __version__

FORMAT_NAME = "fasthmm-model"
FORMAT_VERSION = 1
HEADER_KEY = "__fasthmm_header__"
_ARRAY_TAG = "__array__"


def _encode_param(name, value, arrays, notes):
    """JSON-encodable form of one constructor argument (arrays go to ``arrays``)."""
    if name == "random_state":
        if value is None or (
            isinstance(value, numbers.Integral) and not isinstance(value, bool)
        ):
            return None if value is None else int(value)
        notes.append(
            f"random_state was a {type(value).__name__}, which is not saved; "
            "the loaded model has random_state=None"
        )
        return None
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    arr = np.asarray(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    if arr is not None and arr.dtype.kind in "biuf":
        key = f"hyper/{name}"
        arrays[key] = arr
        return {_ARRAY_TAG: key}
    raise TypeError(
        f"cannot save constructor argument {name}={value!r}: expected None, a "
        "bool, a number, a string or an array of numbers"
    )


def _decode_param(name, value, archive):
    if isinstance(value, dict):
        key = value.get(_ARRAY_TAG)
        if not isinstance(key, str) or key not in archive.files:
            raise ValueError(
                f"corrupt fasthmm model file: constructor argument {name!r} "
                f"refers to a missing array {key!r}"
            )
        return _entry(archive, key)
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    raise ValueError(
        f"corrupt fasthmm model file: constructor argument {name!r} has an "
        f"unexpected value {value!r}"
    )


def save_model(model, path):
    """Write ``model`` to ``path`` (see the module docstring for the format).

    Parameters
    ----------
    model : fasthmm.base.BaseHMM
        Fitted or not; parameters that are not set are not written.
    path : str, os.PathLike or a binary file object
        Written exactly as given (no ``.npz`` suffix is added).

    Notes
    -----
    ``random_state`` is saved only when it is None or an int. A
    ``RandomState`` or ``Generator`` (whose state is not a plain number) is
    dropped: the loaded model has ``random_state=None``, and the header's
    ``notes`` says so. Everything that determines the model's scores is saved
    exactly, so a loaded model scores identically.
    """
    if model_classes().get(name_of(type(model))) is not type(model):
        raise TypeError(
            f"cannot save a {type(model).__name__}: another class of that name "
            "was registered since; registered model classes: "
            f"{sorted(model_classes())}"
        )
    arrays = {}
    notes = []
    params = {
        name: _encode_param(name, value, arrays, notes)
        for name, value in model.get_params().items()
    }
    fitted = []
    stored = model._current_params()  # each in its stored shape
    for name in model._param_names():
        value = stored[name]
        if value is None:
            continue
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"cannot save {name}: expected an array of numbers, got {_kind(value)}"
            )
        arrays[f"param/{name}"] = arr
        fitted.append(name)
    monitor = model.monitor_
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "fasthmm_version": __version__,
        "class": name_of(type(model)),
        "params": params,
        "fitted": fitted,
        "monitor": {
            "history": [float(v) for v in monitor.history],
            "iter": int(monitor.iter),
            "tol": _encode_param("tol", monitor.tol, {}, []),
            "n_iter": _encode_param("n_iter", monitor.n_iter, {}, []),
            "verbose": bool(monitor.verbose),
        },
        "notes": notes,
    }
    arrays[HEADER_KEY] = np.array(json.dumps(header))
    if hasattr(path, "write"):
        np.savez(path, **arrays)
    else:
        with open(os.fspath(path), "wb") as f:
            np.savez(f, **arrays)


def _kind(value):
    return f"an array of shape {np.shape(value)} and dtype {np.asarray(value).dtype}"


def _entry(archive, key, path=""):
    """One array of the archive; an entry that needs pickle is refused."""
    try:
        return archive[key]
    except ValueError as exc:  # object arrays need pickle: never loaded
        raise ValueError(
            f"corrupt fasthmm model file {path!s}: entry {key!r} cannot be read "
            f"without unpickling, which is never done ({exc})"
        ) from None


def _read_header(archive, path):
    if HEADER_KEY not in archive.files:
        raise ValueError(
            f"{path!s} is not a fasthmm model file: it has no {HEADER_KEY!r} entry"
        )
    raw = _entry(archive, HEADER_KEY, path)
    if raw.dtype.kind != "U" or raw.ndim != 0:
        raise ValueError(f"{path!s} is not a fasthmm model file: bad header")
    try:
        header = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path!s} is not a fasthmm model file: header is not JSON ({exc})"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{path!s} is not a fasthmm model file: header format is "
            f"{header.get('format') if isinstance(header, dict) else header!r}"
        )
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(
            f"{path!s}: format_version must be a positive int, got {version!r}"
        )
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path!s} was written in fasthmm model format version {version} "
            f"(by fasthmm {header.get('fasthmm_version')}); this fasthmm "
            f"{__version__} reads format versions up to {FORMAT_VERSION}: "
            "upgrade fasthmm to load it"
        )
    return header


def load_model(path):
    """Read a model written by :meth:`fasthmm.base.BaseHMM.save`.

    Parameters
    ----------
    path : str, os.PathLike or a binary file object

    Returns
    -------
    model : fasthmm.base.BaseHMM
        An instance of the saved class, with the saved constructor arguments,
        fitted parameters and ``monitor_`` history.

    Raises
    ------
    ValueError
        When the file is not a fasthmm model (not an ``.npz`` archive, no
        header, an unknown class, a corrupt entry) or was written in a newer
        format version than this fasthmm reads.
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError:  # a pickle, or not a NumPy file at all
        raise ValueError(
            f"{path!s} is not a fasthmm model file: not an .npz archive "
            "(fasthmm never unpickles a file)"
        ) from None
    except (EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(
            f"{path!s} is not a fasthmm model file (cannot be read: {exc})"
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{path!s} is not a fasthmm model file: it holds a single array, "
            "not an .npz archive"
        )
    with archive:
        return _build(archive, _read_header(archive, path), path)


def _build(archive, header, path):
    classes = model_classes()
    name = header.get("class")
    cls = classes.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"{path!s} holds an unknown model class {name!r}; this fasthmm knows "
            f"{sorted(classes)}"
        )
    raw_params = header.get("params", {})
    if not isinstance(raw_params, dict):
        raise ValueError(f"corrupt fasthmm model file {path!s}: bad 'params'")
    known = set(cls._constructor_args())
    unknown = sorted(set(raw_params) - known)
    if unknown:
        raise ValueError(
            f"{path!s}: constructor arguments {unknown} are unknown to this "
            f"fasthmm's {name}"
        )
    kwargs = {k: _decode_param(k, v, archive) for k, v in raw_params.items()}
    model = cls(**kwargs)
    fitted = header.get("fitted", [])
    allowed = set(cls._param_names())
    for attr in fitted:
        key = f"param/{attr}"
        if attr not in allowed or key not in archive.files:
            raise ValueError(
                f"corrupt fasthmm model file {path!s}: fitted array {attr!r} "
                f"is {'missing' if attr in allowed else 'not a parameter of ' + name}"
            )
        arr = _entry(archive, key, path)
        if arr.dtype.kind not in "biuf":
            raise ValueError(
                f"corrupt fasthmm model file {path!s}: {attr} has dtype {arr.dtype}"
            )
        setattr(model, attr, arr)
    mon = header.get("monitor") or {}
    monitor = model.monitor_
    monitor.history = [float(v) for v in mon.get("history", [])]
    monitor.iter = int(mon.get("iter", len(monitor.history)))
    for attr in ("tol", "n_iter", "verbose"):
        if attr in mon:
            setattr(monitor, attr, mon[attr])
    return model
