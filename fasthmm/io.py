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

Writing is atomic (:func:`atomic_write`, shared with the command line): the
file is written under a temporary name in the same folder and renamed over
the target only once complete, so a failed or interrupted write (a full
disk, a quota, Ctrl-C, a killed job) leaves the previous file as it was.

Reading trusts nothing in the file: the entries' NumPy headers (shape and
dtype) are read first and checked against the bytes each entry holds and the
sizes the JSON header declares before any data is read, the header's fields
are checked for their types, and the constructor arguments and fitted arrays
are checked as ``fit`` and ``score`` check them. Whatever is wrong (a
truncated or damaged archive, an edited header, an entry of the wrong shape)
raises a ``ValueError`` naming the file and the problem.
"""

import contextlib
import json
import numbers
import os
import secrets
import stat
import struct
import zipfile
import zlib

import numpy as np

from ._registry import model_class, model_classes, name_of
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
    A path is written atomically (:func:`atomic_write`): if the write fails,
    an existing file at ``path`` is left as it was.

    ``random_state`` is saved only when it is None or an int. A
    ``RandomState`` or ``Generator`` (whose state is not a plain number) is
    dropped: the loaded model has ``random_state=None``, and the header's
    ``notes`` says so. Everything that determines the model's scores is saved
    exactly, so a loaded model scores identically.
    """
    if model_class(name_of(type(model))) is not type(model):
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
        with atomic_write(path) as f:
            np.savez(f, **arrays)


def _kind(value):
    return f"an array of shape {np.shape(value)} and dtype {np.asarray(value).dtype}"


# -- atomic writes ----------------------------------------------------------------


@contextlib.contextmanager
def atomic_write(path, text=False):
    """Open a file that replaces ``path`` only once it is completely written.

    The data goes to a new temporary file in the same folder (so that the
    final rename stays on one file system), which is flushed to disk and then
    renamed over ``path`` with :func:`os.replace`. If anything fails before
    that (an exception in the ``with`` block, a full disk, a file-size limit,
    Ctrl-C), the temporary file is removed and an existing file at ``path``
    is left untouched. The new file gets the permissions of the file it
    replaces, or the usual ones (0o666 less the umask) when there was none; a
    symbolic link at ``path`` is followed (its target is replaced).

    Parameters
    ----------
    path : str or os.PathLike
    text : bool
        Open in text mode (UTF-8) instead of binary.

    Yields
    ------
    file : a writable file object
    """
    target = os.path.realpath(os.fspath(path))
    folder, base = os.path.split(target)
    fd, tmp = _new_temporary(folder, base)
    try:
        mode = "w" if text else "wb"
        kwargs = {"encoding": "utf-8", "newline": ""} if text else {}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _new_temporary(folder, base):
    """(descriptor, path) of a new hidden file ``.<base>.<random>.tmp`` in ``folder``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


# -- reading ------------------------------------------------------------------------

#: What the zip and npy readers raise on damaged bytes (all reported as a
#: corrupt file).
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    EOFError,
    OSError,
    ValueError,
    TypeError,
    KeyError,
    SyntaxError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    UnicodeDecodeError,
)
#: An entry stored compressed may inflate at most this many times its stored
#: size (fasthmm writes uncompressed archives; a zip bomb is refused).
_MAX_INFLATION = 100
_INFLATION_SLACK = 1 << 20


class _Corrupt(ValueError):
    """A file that cannot be a fasthmm model (the message names it)."""


def _corrupt(name, what):
    return _Corrupt(f"corrupt fasthmm model file {name}: {what}")


def _error_text(exc):
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _display_name(path):
    if hasattr(path, "read"):
        return str(getattr(path, "name", "(file object)"))
    return os.fspath(path)


def _peek(path, n):
    """The first ``n`` bytes of a path or a binary file object."""
    if hasattr(path, "read"):
        pos = path.tell()
        data = path.read(n)
        path.seek(pos)
        return data
    with open(os.fspath(path), "rb") as f:
        return f.read(n)


def _open_archive(path, name):
    """The model file as an open :class:`zipfile.ZipFile`."""
    magic = _peek(path, 6)  # a missing file raises FileNotFoundError here
    if magic.startswith(b"\x93NUMPY"):
        raise ValueError(
            f"{name} is not a fasthmm model file: it holds a single array, "
            "not an .npz archive"
        )
    if not magic.startswith(b"PK"):
        raise ValueError(
            f"{name} is not a fasthmm model file: not an .npz archive "
            f"({'an empty file' if not magic else 'fasthmm never unpickles a file'})"
        )
    try:
        return zipfile.ZipFile(path)
    except _READ_ERRORS as exc:
        raise _corrupt(
            name, f"the archive is damaged or truncated ({_error_text(exc)})"
        ) from None


class _Entry:
    """One ``.npy`` member of the archive: its zip record and array header."""

    def __init__(self, info, shape, dtype):
        self.info, self.shape, self.dtype = info, shape, dtype


def _entry_headers(archive, name):
    """Key -> :class:`_Entry` for every member, from the npy headers alone.

    Checks, before any data is read, that each member is an npy array that
    needs no unpickling and whose declared shape and dtype account exactly for
    the bytes it holds, and that no member inflates beyond
    ``_MAX_INFLATION`` times its stored size.
    """
    entries = {}
    for info in archive.infolist():
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        try:
            with archive.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ValueError(f"npy format version {version} is not read")
                offset = f.tell()
        except _READ_ERRORS as exc:
            raise _corrupt(
                name, f"entry {key!r} cannot be read ({_error_text(exc)})"
            ) from None
        if dtype.hasobject:
            raise _corrupt(
                name,
                f"entry {key!r} cannot be read without unpickling, which is never done",
            )
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if offset + nbytes != info.file_size:
            raise _corrupt(
                name,
                f"entry {key!r} declares shape {shape} of {dtype} ({nbytes} "
                f"bytes) but holds {info.file_size - offset} bytes",
            )
        if (
            info.compress_type != zipfile.ZIP_STORED
            and info.file_size > _MAX_INFLATION * info.compress_size + _INFLATION_SLACK
        ):
            raise _corrupt(
                name,
                f"entry {key!r} inflates from {info.compress_size} to "
                f"{info.file_size} bytes (more than {_MAX_INFLATION}-fold is "
                "refused; fasthmm writes uncompressed archives)",
            )
        entries[key] = _Entry(info, shape, dtype)
    return entries


def _read_entry(archive, entries, key, name, kinds="biuf"):
    """The array stored under ``key``, whose dtype kind must be in ``kinds``."""
    entry = entries[key]
    if entry.dtype.kind not in kinds:
        raise _corrupt(name, f"entry {key!r} has dtype {entry.dtype}")
    try:
        with archive.open(entry.info) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise _corrupt(
            name, f"entry {key!r} cannot be read ({_error_text(exc)})"
        ) from None


def _read_header(archive, entries, name):
    """The JSON header, checked for its format, version and field types."""
    if HEADER_KEY not in entries:
        raise ValueError(
            f"{name} is not a fasthmm model file: it has no {HEADER_KEY!r} entry"
        )
    if entries[HEADER_KEY].shape != ():
        raise ValueError(f"{name} is not a fasthmm model file: bad header")
    raw = _read_entry(archive, entries, HEADER_KEY, name, kinds="U")
    try:
        header = json.loads(str(raw))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(
            f"{name} is not a fasthmm model file: header is not JSON ({exc})"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{name} is not a fasthmm model file: header format is "
            f"{header.get('format') if isinstance(header, dict) else header!r}"
        )
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _corrupt(name, f"format_version must be a positive int, got {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{name} was written in fasthmm model format version {version} "
            f"(by fasthmm {header.get('fasthmm_version')}); this fasthmm "
            f"{__version__} reads format versions up to {FORMAT_VERSION}: "
            "upgrade fasthmm to load it"
        )
    _field(header, "class", str, name, required=True)
    _field(header, "params", dict, name)
    _field(header, "monitor", dict, name)
    for key in ("fitted", "notes"):
        _items(_field(header, key, list, name), key, str, name)
    monitor = header.get("monitor", {})
    _items(
        _field(monitor, "history", list, name, "monitor."),
        "monitor.history",
        _REAL,
        name,
    )
    _field(monitor, "iter", _INT, name, "monitor.")
    _field(monitor, "n_iter", _INT, name, "monitor.")
    _field(monitor, "tol", _REAL, name, "monitor.")
    _field(monitor, "verbose", bool, name, "monitor.")
    return header


_INT = ("an int", lambda v: isinstance(v, int) and not isinstance(v, bool))
_REAL = ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))


def _field(mapping, key, kind, name, prefix="", required=False, label=None):
    """``mapping[key]`` (None when absent), checked to be of ``kind``.

    ``kind`` is a type or a (description, predicate) pair; ``label`` names
    the field in messages (default: ``'<prefix><key>'``).
    """
    label = repr(f"{prefix}{key}") if label is None else label
    if key not in mapping:
        if required:
            raise _corrupt(name, f"the header has no {label} field")
        return None
    value = mapping[key]
    what, ok = (
        (f"a {kind.__name__}", lambda v: isinstance(v, kind))
        if isinstance(kind, type)
        else kind
    )
    if not ok(value):
        raise _corrupt(name, f"header field {label} must be {what}, got {value!r:.80}")
    return value


def _items(values, key, kind, name):
    """Check every item of the list ``values`` (None: absent) with :func:`_field`."""
    for i, value in enumerate(values or ()):
        _field({i: value}, i, kind, name, label=f"{key!r}[{i}]")


def load_model(path):
    """Read a model written by :meth:`fasthmm.base.BaseHMM.save`.

    Parameters
    ----------
    path : str, os.PathLike or a binary file object

    Returns
    -------
    model : fasthmm.base.BaseHMM or fasthmm.HMMTagger
        An instance of the saved class, with the saved constructor arguments,
        fitted parameters and ``monitor_`` history; a file written by
        :meth:`fasthmm.HMMTagger.save` gives the tagger
        (:meth:`fasthmm.HMMTagger.load`).

    Raises
    ------
    ValueError
        Naming the file and what is wrong, when it is not a fasthmm model (not
        an ``.npz`` archive, no header, an unknown class), is damaged (a
        truncated or corrupt archive, a header field of the wrong type, an
        entry whose shape does not match the sizes the header declares,
        constructor arguments or parameters that ``fit`` or ``score`` would
        refuse), or was written in a newer format version than this fasthmm
        reads.
    FileNotFoundError
        When there is no such file.
    """
    name = _display_name(path)
    start = path.tell() if hasattr(path, "tell") else None
    with _open_archive(path, name) as archive:
        entries = _entry_headers(archive, name)
        if not _is_tagger_file(archive, entries, name):
            header = _read_header(archive, entries, name)
            return _build(archive, entries, header, name)
    from .tagger import HMMTagger

    if start is not None:
        path.seek(start)
    return HMMTagger.load(path)


def _is_tagger_file(archive, entries, name):
    """Whether the archive was written by :meth:`fasthmm.HMMTagger.save`."""
    entry = entries.get(HEADER_KEY)
    if entry is None or entry.shape != ():
        return False
    try:
        header = json.loads(str(_read_entry(archive, entries, HEADER_KEY, name, "U")))
    except (ValueError, RecursionError):
        return False
    if not isinstance(header, dict) or header.get("format") == FORMAT_NAME:
        return False  # a model file: the tagger module is not needed
    from .tagger import FORMAT_NAME as TAGGER_FORMAT

    return header.get("format") == TAGGER_FORMAT


def _build(archive, entries, header, name):
    cls_name = header["class"]
    cls = model_class(cls_name)
    if cls is None:
        raise ValueError(
            f"{name} holds an unknown model class {cls_name!r}; this fasthmm "
            f"knows {sorted(model_classes())}"
        )
    raw_params = header.get("params", {})
    unknown = sorted(set(raw_params) - set(cls._constructor_args()))
    if unknown:
        raise _corrupt(
            name,
            f"constructor arguments {unknown} are unknown to this fasthmm's {cls_name}",
        )
    kwargs = {
        k: _decode_param(k, v, archive, entries, name) for k, v in raw_params.items()
    }
    model = _checked_model(
        name, "constructor arguments", lambda: _construct(cls, kwargs)
    )
    fitted = header.get("fitted", [])
    _check_fitted_shapes(model, fitted, entries, name)
    for attr in fitted:
        setattr(model, attr, _read_entry(archive, entries, f"param/{attr}", name))
    if fitted and all(
        getattr(model, n, None) is not None for n in model._param_names()
    ):
        _checked_model(name, "fitted parameters", model._checked_params)
    _restore_monitor(model.monitor_, header.get("monitor", {}))
    return model


def _construct(cls, kwargs):
    model = cls(**kwargs)
    model._check_hyperparameters()
    return model


def _checked_model(name, what, check):
    """``check()``, its ValueError or TypeError reported as a corrupt file."""
    try:
        return check()
    except (ValueError, TypeError) as exc:
        raise _corrupt(name, f"invalid {what}: {exc}") from None


def _decode_param(key, value, archive, entries, name):
    """A constructor argument from its JSON form (arrays read from the archive)."""
    if isinstance(value, dict):
        ref = value.get(_ARRAY_TAG)
        if len(value) != 1 or not isinstance(ref, str) or ref not in entries:
            raise _corrupt(
                name, f"constructor argument {key!r} refers to a missing array {ref!r}"
            )
        return _read_entry(archive, entries, ref, name)
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    raise _corrupt(
        name, f"constructor argument {key!r} has an unexpected value {value!r:.80}"
    )


def _declared_sizes(model, fitted, entries):
    """The sizes a fitted array's axes may have: ``n_components``, the
    ``n_*`` and ``max_*`` constructor arguments and ``order`` when they are
    ints (``n_features``, ``n_mix``, ``max_duration``, ...), the number of
    features the emission's feature parameter holds and the number of
    transition inputs of ``transcoef_``.
    """
    sizes = {
        v
        for arg, v in model.get_params().items()
        if (arg.startswith(("n_", "max_")) or arg == "order")
        and arg != "n_iter"
        and isinstance(v, numbers.Integral)
        and not isinstance(v, bool)
        and v > 0
    }
    feature = getattr(model._emission_class, "feature_param", None)
    if feature in fitted and entries[f"param/{feature}"].shape:
        sizes.add(entries[f"param/{feature}"].shape[-1])
    # n_transition_inputs; the regressors of RegressionHMM / ARHMM
    for name in ("transcoef_", "coef_"):
        coef = entries.get(f"param/{name}") if name in fitted else None
        if coef is not None and len(coef.shape) in (2, 3):
            sizes.add(coef.shape[-1])  # 2-D: MarkovSwitchingAR's (K, n_inputs)
    return sizes


def _check_fitted_shapes(model, fitted, entries, name):
    """Check the fitted arrays' npy headers against the declared sizes.

    Done before any of them is read, so that an entry claiming an outsized
    shape is refused without allocating it.
    """
    allowed = set(model._param_names())
    k = model.n_components
    exact = {"startprob_": (k,), "transmat_": (k, k)}
    sizes = None
    for attr in fitted:
        key = f"param/{attr}"
        if attr not in allowed or key not in entries:
            raise _corrupt(
                name,
                f"fitted array {attr!r} is "
                + (
                    "missing"
                    if attr in allowed
                    else f"not a parameter of {type(model).__name__}"
                ),
            )
        shape = entries[key].shape
        if attr in exact and shape != exact[attr]:
            raise _corrupt(
                name,
                f"{attr} has shape {shape}, but n_components is {k} "
                f"(expected {exact[attr]})",
            )
        sizes = _declared_sizes(model, fitted, entries) if sizes is None else sizes
        if len(shape) > 4 or any(n not in sizes for n in shape):
            raise _corrupt(
                name,
                f"{attr} has shape {shape}; its axes must be among the sizes "
                f"the header declares ({sorted(sizes)}: n_components, "
                "n_features, ...)",
            )


def _restore_monitor(monitor, saved):
    """Set ``monitor_`` from the header's (checked) ``monitor`` field."""
    monitor.history = [float(v) for v in saved.get("history", [])]
    monitor.iter = int(saved.get("iter", len(monitor.history)))
    for attr in ("tol", "n_iter", "verbose"):
        if attr in saved:
            setattr(monitor, attr, saved[attr])
