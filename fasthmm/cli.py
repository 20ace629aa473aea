"""The command line: ``fasthmm fit|decode|score|forecast|sample|info|demo``.

Installed as the ``fasthmm`` console script and runnable as
``python -m fasthmm``. Data files are ``.npy`` arrays or ``.csv`` / ``.txt``
tables (one row per sample; a ``.csv`` may start with a header row naming the
columns). Several sequences are either concatenated with a lengths file (one
integer per line, or a ``.npy``) or marked by a sequence-id column whose runs
of equal values are the sequences. Models are read and written in fasthmm's
model file format (:func:`fasthmm.load`, ``model.save``).

Exit codes: 0 on success, 1 when a file or the data is unusable or anything
else goes wrong (one line on stderr saying why; ``--debug`` or
``FASTHMM_DEBUG=1`` shows the traceback instead), 2 for a malformed command
line, 130 when interrupted. Output paths are checked before any work is
done, and output files are written atomically (:func:`fasthmm.io.atomic_write`).
"""

import argparse
import contextlib
import gc
import os
import sys
import traceback
import warnings

import numpy as np

from ._compile import add_compile_command
from ._progress import set_progress
from ._registry import Families

DESCRIPTION = """\
Fit, decode, score and sample Hidden Markov Models from the shell.

Data files: .npy arrays, or .csv / .txt tables (UTF-8) with one row per
sample (a first row that is not all numbers is read as a header naming the
columns). Every column is a feature unless --columns selects the features
(by header name or 0-based index: --columns a,b), so leave out a time or
label column with it. Missing values (an empty .csv cell, NA, NaN) are read
only with --missing marginalize, which integrates them out. Several
sequences: concatenate them and give --lengths
FILE (one integer per line, or a .npy), or mark them with --id-column COLUMN
(rows with the same id, numbers or text, in runs, form one sequence; the id
column is never a feature).

Examples:
  fasthmm fit data.csv --model gaussian -k 3 -o model.npz
  fasthmm fit data.csv --id-column subject --columns x,y -o model.npz
  fasthmm decode data.csv model.npz -o states.csv
  fasthmm score data.csv model.npz
  fasthmm forecast data.csv model.npz --steps 8 -o forecast.csv
  fasthmm sample model.npz -n 500 -o sampled.csv
  fasthmm info model.npz
"""

EPILOG = """\
Exit codes: 0 success; 1 unusable file or data, or any other error (one line
on stderr says why; add --debug, or set FASTHMM_DEBUG=1, to see the full
traceback instead); 2 malformed command line; 130 interrupted (Ctrl-C).
Output files are written atomically: a failed or interrupted write leaves an
existing file as it was.
"""

#: --model name -> model class: every emission family (fasthmm._registry),
#: importing the model modules fasthmm loads on first use only when needed.
MODELS = Families()


class CommandError(Exception):
    """An error reported as one line, exit code 1."""


# -- reading and writing files --------------------------------------------------

TEXT_TYPES = (".csv", ".txt", ".tsv", ".dat")
OUTPUT_TYPES = (".npy", ".csv", ".txt")


#: What a text table's cell holds when a value is missing (case ignored; an
#: empty cell too), read as NaN with ``--missing marginalize``.
MISSING_TOKENS = ("", "na", "nan", "n/a")

#: What an error about a missing value adds without ``--missing marginalize``.
MISSING_HINT = "pass --missing marginalize to integrate missing values out"


def _read_table(path, id_column=None, columns=None, missing=False):
    """(X, lengths or None) from a .npy, .csv or .txt file.

    ``columns`` (a list of header names or indices) selects the feature
    columns; by default every column but ``id_column`` is one. With
    ``missing``, the feature columns may hold missing values (read as NaN);
    otherwise a missing cell of a text table is an error naming ``--missing``.
    """
    if not os.path.isfile(path):
        raise CommandError(f"{path}: no such file")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        table = _NpyTable(path)
    elif ext in TEXT_TYPES:
        table = _TextTable(path, "," if ext == ".csv" else None, missing)
    else:
        raise CommandError(
            f"{path}: unknown file type {ext or '(none)'!r}; use .npy, .csv or .txt"
        )
    id_index = None if id_column is None else table.index(id_column)
    if columns is None:
        features = [j for j in range(table.n_columns) if j != id_index]
        if not features:
            raise CommandError(f"{path}: no data columns besides the id column")
    else:
        features = [table.index(c) for c in columns]
        if id_index in features:
            raise CommandError(f"{path}: --id-column {id_column} is also in --columns")
    X = table.numbers(features)
    if id_index is None:
        return X, None
    return X, _runs(table.ids(id_index), path, id_column)


def _runs(ids, path, id_column):
    """Lengths of the runs of equal ids (each id must form one run)."""
    change = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    bounds = np.concatenate([[0], change, [len(ids)]])
    run_ids = ids[bounds[:-1]]
    if len(np.unique(run_ids)) != len(run_ids):
        raise CommandError(
            f"{path}: the rows of each sequence must be contiguous; an id in "
            f"column {id_column} appears in more than one run"
        )
    return np.diff(bounds)


def _is_number(token):
    try:
        float(token)
    except ValueError:
        return False
    return True


def _is_missing(token):
    return token.strip().lower() in MISSING_TOKENS


def _number_or_missing(token):
    """A cell of a table read with missing values: NaN when missing."""
    return np.nan if _is_missing(token) else float(token)


class _NpyTable:
    """A .npy array read as a table (no header: columns by index only)."""

    def __init__(self, path):
        self.path, self.header = path, None
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise CommandError(
                f"{path}: cannot read it as an array: {_first_line(exc)}"
            ) from None
        if data.dtype.kind not in "biuf":
            raise CommandError(f"{path}: must hold numbers, got dtype {data.dtype}")
        if data.size == 0:
            raise CommandError(f"{path}: holds no samples")
        if data.ndim > 2:
            raise CommandError(
                f"{path}: must be a table (1-D or 2-D), got {data.ndim}-D"
            )
        self.data = data.reshape(len(data), -1)
        self.n_columns = self.data.shape[1]
        self.one_d = data.ndim == 1

    def index(self, column):
        return _column_index(column, None, self.n_columns, self.path)

    def numbers(self, columns):
        if self.one_d and columns == [0]:
            return self.data[:, 0]
        return self.data[:, columns]

    def ids(self, column):
        return self.data[:, column]


class _TextTable:
    """A .csv / .txt table: UTF-8 (a byte-order mark is skipped), an optional
    header row (a first row that is not all numbers), ``#`` comments.
    """

    def __init__(self, path, delimiter, missing=False):
        self.path, self.delimiter, self.missing = path, delimiter, missing
        try:
            with open(path, encoding="utf-8-sig") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: cannot read it: {_first_line(exc)}") from None
        rows = [i for i, line in enumerate(lines) if _is_data_line(line)]
        if not rows:
            raise CommandError(f"{path}: holds no samples")
        first = self._tokens(lines[rows[0]])
        number = (lambda t: _is_number(t) or _is_missing(t)) if missing else _is_number
        self.header = None if all(number(t) for t in first) else first
        if self.header is not None:
            rows = rows[1:]
            if not rows:
                raise CommandError(f"{path}: holds no samples, only a header row")
        self.n_columns = len(first)
        for i in rows:  # loadtxt with usecols would not see extra columns
            n = len(self._tokens(lines[i]))
            if n != self.n_columns:
                raise CommandError(
                    f"{path}: line {i + 1} has {n} columns, the first row "
                    f"{self.n_columns}"
                )
        self.lines = [lines[i] for i in rows]

    def _tokens(self, line):
        line = line.split("#", 1)[0]
        return [t.strip() for t in line.strip().split(self.delimiter)]

    def index(self, column):
        return _column_index(column, self.header, self.n_columns, self.path)

    def _load(self, columns, dtype):
        numbers = dtype is float
        # With --missing marginalize, a missing cell of a feature is NaN.
        converters = _number_or_missing if numbers and self.missing else None
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning is reported as an error
            try:
                return np.loadtxt(
                    self.lines,
                    delimiter=self.delimiter,
                    usecols=columns,
                    dtype=dtype,
                    ndmin=2,
                    converters=converters,
                )
            except (ValueError, IndexError, Warning) as exc:
                what = "numbers" if numbers else "ids"
                hint = "" if self.missing or not numbers else f" ({MISSING_HINT})"
                raise CommandError(
                    f"{self.path}: cannot read {self._names(columns)} as "
                    f"{what}: {_first_line(exc)}{hint}"
                ) from None

    def _names(self, columns):
        if self.header is None:
            return f"columns {columns}"
        return "columns " + ", ".join(repr(self.header[j]) for j in columns)

    def numbers(self, columns):
        return self._load(columns, float)

    def ids(self, column):
        return np.char.strip(self._load([column], str)[:, 0])


def _is_data_line(line):
    text = line.strip()
    return bool(text) and not text.startswith("#")


def _column_index(column, header, n_columns, path):
    if header is not None and column in header:
        return header.index(column)
    try:
        index = int(column)
    except ValueError:
        raise CommandError(
            f"{path}: no column named {column!r}"
            + (f" (columns: {', '.join(header)})" if header else " (no header row)")
        ) from None
    if not 0 <= index < n_columns:
        raise CommandError(f"{path}: column {index} out of range (0..{n_columns - 1})")
    return index


#: Lengths are read as floats and must be exact integers: at most 2**53.
MAX_LENGTH = 2**53


def _read_lengths(path):
    if path is None:
        return None
    lengths, _ = _read_table(path)
    values = np.asarray(lengths, dtype=float).reshape(-1)
    ok = np.isfinite(values) & (values >= 1) & (values <= MAX_LENGTH)
    ok &= values == np.floor(np.where(ok, values, 0))
    if not np.all(ok):
        i = int(np.flatnonzero(~ok)[0])
        raise CommandError(
            f"--lengths {path}: lengths must be positive integers up to 2**53, "
            f"got lengths[{i}] = {values[i]:.10g}"
        )
    return values.astype(np.int64)


def _read_data(args, missing="raise"):
    """(X, lengths) of the command's data; ``missing`` the model's option
    (None: read missing values as NaN, for :func:`_refuse_missing` later)."""
    if args.lengths is not None and args.id_column is not None:
        raise CommandError("give --lengths or --id-column, not both")
    allowed = missing != "raise"
    X, lengths = _read_table(args.data, args.id_column, args.columns, allowed)
    if missing == "raise":
        _refuse_missing(args.data, X)
    if args.lengths is not None:
        lengths = _read_lengths(args.lengths)
    return X, lengths


def _refuse_missing(path, X):
    """A missing value (NaN) of ``X`` is an error naming ``--missing``."""
    gaps = np.isnan(X.reshape(len(X), -1)).any(axis=1)
    if gaps.any():
        raise CommandError(
            f"{path}: sample {int(np.flatnonzero(gaps)[0])} holds a missing value "
            f"(NaN); {MISSING_HINT}"
        )


def _read_inputs(args):
    """``inputs=`` / ``transition_inputs=`` from --inputs / --transition-inputs
    (tables aligned with the data's rows), as keywords for the model."""
    kw = {}
    for name in ("inputs", "transition_inputs"):
        path = getattr(args, name, None)
        if path is not None:
            kw[name] = _read_table(path)[0]
    return kw


def _rows_read(path, X, lengths):
    """What was read, for the summary lines: '80 rows in 4 sequences of f.csv'."""
    n_seq = 1 if lengths is None else len(lengths)
    plural = "" if n_seq == 1 else "s"
    return f"{len(X)} rows in {n_seq} sequence{plural} of {path}"


def _load(path):
    from .io import load_model

    if not os.path.isfile(path):
        raise CommandError(f"{path}: no such file")
    return load_model(path)


def _check_output(path, types=None):
    """Refuse an output path that cannot be written, before any work is done.

    ``types``: the allowed extensions (None: any).
    """
    if path is None:
        return
    ext = os.path.splitext(path)[1].lower()
    if types is not None and ext not in types:
        raise CommandError(
            f"{path}: unknown output type {ext or '(none)'!r}; use " + ", ".join(types)
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CommandError(f"{path}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise CommandError(f"{path}: is a folder, not a file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandError(f"{path}: the folder {folder} is not writable")


@contextlib.contextmanager
def _writing(path):
    """Report a failed write of ``path`` as one line (the file is unchanged)."""
    try:
        yield
    except OSError as exc:
        raise CommandError(
            f"{path}: cannot write it ({_first_line(exc)}); an existing file "
            "there is unchanged"
        ) from None


def _write(path, columns, names, integer):
    """Write columns to ``path`` (.npy, .csv, .txt; atomically) or stdout when None."""
    from .io import atomic_write

    table = np.column_stack(columns)
    fmt = "%d" if integer else "%.10g"
    if path is None:
        np.savetxt(sys.stdout, table, fmt=fmt, delimiter=",")
        return
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        with _writing(path), atomic_write(path) as f:
            np.save(f, table[:, 0] if table.shape[1] == 1 else table)
        return
    delimiter = "," if ext == ".csv" else " "
    header = delimiter.join(names) if ext == ".csv" else ""
    with _writing(path), atomic_write(path, text=True) as f:
        np.savetxt(f, table, fmt=fmt, delimiter=delimiter, header=header, comments="")


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- commands -------------------------------------------------------------------


def cmd_fit(args):

    _check_output(args.output)
    missing = args.missing or "raise"
    X, lengths = _read_data(args, missing)
    inputs = _read_inputs(args)
    cls = MODELS[args.model]
    kwargs = dict(
        n_components=args.n_components,
        n_iter=args.n_iter,
        tol=args.tol,
        random_state=args.seed,
        missing=missing,
    )
    takes = cls._constructor_args()
    if "covariance_type" in takes:
        kwargs["covariance_type"] = args.covariance_type
    if "n_mix" in takes:
        kwargs["n_mix"] = args.n_mix
    if "max_duration" in takes and args.max_duration is not None:
        kwargs["max_duration"] = args.max_duration
    if "transition_inputs" in inputs:
        kwargs["transition_inputs"] = True
    model = cls(**kwargs)
    previous = set_progress("off" if args.quiet else "line")
    try:
        model.fit(X, lengths, **inputs)
    finally:
        set_progress(previous)
    with _writing(args.output):
        model.save(args.output)
    m = model.monitor_
    print(
        f"{cls.__name__} with {model.n_components} states fitted on "
        f"{_rows_read(args.data, X, lengths)}: {m.iter} EM iterations, "
        f"converged={m.converged}, log-likelihood "
        f"{model.score(X, lengths, **inputs):.6g}; written to {args.output}"
    )


def _loaded_with_data(args):
    """(model, X, lengths): the model file, with ``--missing`` (when given)
    replacing its saved option, and the data read as that option says."""
    X, lengths = _read_data(args, missing=None)
    model = _load(args.model_file)
    if args.missing is not None:
        model.set_params(missing=args.missing)
    if getattr(model, "missing", "raise") == "raise":
        _refuse_missing(args.data, X)
    return model, X, lengths


def cmd_decode(args):
    _check_output(args.output, OUTPUT_TYPES)
    model, X, lengths = _loaded_with_data(args)
    inputs = _read_inputs(args)
    if args.posteriors:
        post = model.predict_proba(X, lengths, **inputs)
        names = [f"p{k}" for k in range(post.shape[1])]
        _write(args.output, [post], names, integer=False)
    else:
        _, states = model.decode(X, lengths, algorithm=args.algorithm, **inputs)
        _write(args.output, [states], ["state"], integer=True)
    # stdout may hold the states: the count goes to stderr.
    print(f"decoded {_rows_read(args.data, X, lengths)}", file=sys.stderr)


def cmd_score(args):
    model, X, lengths = _loaded_with_data(args)
    inputs = _read_inputs(args)
    print(f"log-likelihood {model.score(X, lengths, **inputs):.10g}")
    print(f"AIC {model.aic(X, lengths, **inputs):.10g}")
    print(f"BIC {model.bic(X, lengths, **inputs):.10g}")
    print(f"read {_rows_read(args.data, X, lengths)}")


def cmd_forecast(args):
    _check_output(args.output, OUTPUT_TYPES)
    X, lengths = _read_data(args)
    model = _load(args.model_file)
    kw = _read_inputs(args)
    n = 1 if lengths is None else len(lengths)
    for name in ("future_inputs", "future_transition_inputs"):
        path = getattr(args, name)
        if path is not None:
            table = _read_table(path)[0]
            if table.shape[0] != n * args.steps:
                raise CommandError(
                    f"{path}: --{name.replace('_', '-')} needs one row per "
                    f"sequence and step ({n} x {args.steps} = {n * args.steps} "
                    f"rows, sequence by sequence), got {table.shape[0]}"
                )
            kw[name] = table.reshape(n, args.steps, -1)
    if args.proba:
        kw.pop("future_inputs", None)  # the states need no emission inputs
        out = model.forecast_proba(X, lengths, steps=args.steps, **kw)
        names = [f"p{k}" for k in range(out.shape[2])]
    else:
        out = model.forecast(X, lengths, steps=args.steps, **kw)
        names = [f"x{j}" for j in range(out.shape[2])]
    n, steps = out.shape[:2]
    sequence = np.repeat(np.arange(n), steps)
    step = np.tile(np.arange(1, steps + 1), n)
    rows = out.reshape(n * steps, -1)
    _write(args.output, [sequence, step, rows], ["sequence", "step", *names], False)
    print(f"forecast {steps} steps after {_rows_read(args.data, X, lengths)}",
          file=sys.stderr)  # fmt: skip


def cmd_sample(args):
    _check_output(args.output, OUTPUT_TYPES)
    model = _load(args.model_file)
    inputs = _read_inputs(args)
    X, states = model.sample(args.n_samples, random_state=args.seed, **inputs)
    X = X.reshape(len(X), -1)
    names = [f"x{j}" for j in range(X.shape[1])] + ["state"]
    integer = np.all(X == np.round(X))
    _write(args.output, [X, states], names, integer=bool(integer))


def cmd_info(args):
    model = _load(args.model_file)
    m = model.monitor_
    rows = [("class", type(model).__name__)]
    for name in ("n_components", "n_features", "covariance_type", "n_mix", "missing"):
        if hasattr(model, name):
            rows.append((name, getattr(model, name)))
    last = f"{m.history[-1]:.10g}" if m.history else "-"
    rows.append(("EM", f"{m.iter} iterations, converged={m.converged}"))
    rows.append(("last objective", last))
    for label, value in rows:
        print(f"{label:<16}{value}")
    startprob = getattr(model, "startprob_", None)
    transmat = getattr(model, "transmat_", None)
    coef = getattr(model, "transcoef_", None)
    if getattr(model, "transition_inputs", False) and coef is not None:
        print(f"{'transcoef_':<16}shape {np.shape(coef)} (input-driven transitions)")
    with np.printoptions(precision=4, suppress=True):
        print(f"{'startprob_':<16}{'not set' if startprob is None else startprob}")
        if transmat is None:
            print(f"{'transmat_':<16}not set")
        else:
            print("transmat_")
            print(transmat)


def cmd_demo(args):
    from ._demo import demo

    demo(args.seed)


# -- the parser -------------------------------------------------------------------


def _data_args(p):
    p.add_argument("data", help="samples: .npy, .csv or .txt, one row per sample")
    p.add_argument(
        "--lengths",
        metavar="FILE",
        help="sequence lengths (one integer per line, or .npy)",
    )
    p.add_argument(
        "--id-column",
        metavar="COLUMN",
        help="column (header name or 0-based index) whose runs mark the "
        "sequences; its values may be numbers or text",
    )
    p.add_argument(
        "--columns",
        metavar="COLS",
        type=_column_list,
        help="feature columns, comma-separated header names or 0-based indices "
        "(default: every column except the --id-column)",
    )
    p.add_argument(
        "--missing",
        choices=["raise", "marginalize"],
        default=None,
        help="marginalize: read empty cells, NA and NaN as missing values and "
        "integrate them out (missing at random; an empty line is skipped, so "
        "a one-column table writes NA); raise: they are an error "
        "(default for fit; decode and score use the model file's setting)",
    )
    _inputs_args(p)


def _inputs_args(p):
    p.add_argument(
        "--inputs",
        metavar="FILE",
        help="covariates of the emissions, one row per row of the data "
        "(.npy, .csv or .txt), for models whose emissions use them",
    )
    p.add_argument(
        "--transition-inputs",
        metavar="FILE",
        help="covariates of the transitions, one row per row of the data; "
        "fit then builds the model with transition_inputs=True (add a "
        "column of ones for an intercept)",
    )


def _column_list(text):
    names = [c.strip() for c in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"empty column name in {text!r}")
    return names


DEBUG_HELP = "on an error, show the full traceback (also: FASTHMM_DEBUG=1)"


def _debug_arg(p, default):
    p.add_argument("--debug", action="store_true", default=default, help=DEBUG_HELP)


def build_parser():
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="fasthmm", description=DESCRIPTION, epilog=EPILOG, formatter_class=fmt
    )
    _debug_arg(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("fit", help="fit a model by EM and save it", formatter_class=fmt)
    _data_args(p)
    p.add_argument(
        "--model",
        choices=MODELS,
        default="gaussian",
        metavar="MODEL",
        help="emission family: %(choices)s (default %(default)s)",
    )
    p.add_argument("-k", "--n-components", type=int, default=2, help="states")
    p.add_argument(
        "--covariance-type",
        choices=["spherical", "diag", "full", "tied"],
        default="diag",
        help="gaussian and gmm models",
    )
    p.add_argument("--n-mix", type=int, default=1, help="gmm mixture components")
    p.add_argument(
        "--max-duration",
        type=int,
        default=None,
        help="*-hsmm models: longest segment in steps (default 20)",
    )
    p.add_argument("--n-iter", type=int, default=100, help="maximum EM iterations")
    p.add_argument("--tol", type=float, default=1e-4, help="convergence threshold")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("-o", "--output", required=True, help="model file to write")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=cmd_fit)

    p = sub.add_parser("decode", help="most likely states", formatter_class=fmt)
    _data_args(p)
    p.add_argument("model_file", help="a model written by fasthmm fit or model.save")
    p.add_argument("--algorithm", choices=["viterbi", "map"], default=None)
    p.add_argument(
        "--posteriors", action="store_true", help="write p(state | data) instead"
    )
    p.add_argument("-o", "--output", help=".npy, .csv or .txt (default: stdout)")
    p.set_defaults(run=cmd_decode)

    p = sub.add_parser("score", help="log-likelihood, AIC and BIC", formatter_class=fmt)
    _data_args(p)
    p.add_argument("model_file")
    p.set_defaults(run=cmd_score)

    p = sub.add_parser(
        "forecast",
        help="predictive means (or state probabilities) after each sequence",
        formatter_class=fmt,
    )
    _data_args(p)
    p.add_argument("model_file")
    p.add_argument("--steps", type=int, default=1, help="steps after the end")
    p.add_argument(
        "--proba", action="store_true", help="write p(state) of each step instead"
    )
    for flag, what in (("inputs", "emissions"), ("transition-inputs", "transitions")):
        p.add_argument(
            f"--future-{flag}",
            metavar="FILE",
            help=f"covariates of the {what} in the steps after the end: one "
            "row per sequence and step, sequence by sequence",
        )
    p.add_argument("-o", "--output", help=".npy, .csv or .txt (default: stdout)")
    p.set_defaults(run=cmd_forecast)

    p = sub.add_parser("sample", help="draw samples and states", formatter_class=fmt)
    p.add_argument("model_file")
    p.add_argument("-n", "--n-samples", type=int, default=100)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("-o", "--output", help=".npy, .csv or .txt (default: stdout)")
    _inputs_args(p)
    p.set_defaults(run=cmd_sample)

    p = sub.add_parser("info", help="describe a saved model", formatter_class=fmt)
    p.add_argument("model_file")
    p.set_defaults(run=cmd_info)

    p = sub.add_parser(
        "demo",
        help="fit models on generated data and print the results",
        formatter_class=fmt,
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=cmd_demo)
    add_compile_command(sub, CommandError)
    for p in sub.choices.values():  # after the command too; the first wins
        _debug_arg(p, argparse.SUPPRESS)
    return parser


def main(argv=None):
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    debug = args.debug or os.environ.get("FASTHMM_DEBUG", "") not in ("", "0")
    try:
        args.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # every error is one line and exit code 1
        if debug:
            traceback.print_exc()
        else:
            print(f"fasthmm {args.command}: error: {_describe(exc)}", file=sys.stderr)
        return 1
    return 0


#: Errors whose message is the whole story (bad files, data, arguments).
EXPECTED = (CommandError, ValueError, TypeError, OSError)


def _describe(exc):
    """One line for an error; an unexpected one names its type and --debug."""
    if isinstance(exc, EXPECTED):
        return _first_line(exc)
    return (
        f"unexpected {type(exc).__name__}: {_first_line(exc)} (rerun with "
        "--debug for the traceback)"
    )


def main_exit():
    """Entry point of the ``fasthmm`` console script and ``python -m fasthmm``."""
    gc.freeze()  # what the imports made lives until the exit: never examined
    code = main()
    _skip_final_collection()
    sys.exit(code)


def _skip_final_collection():
    """Leave the objects of this process to the operating system at exit.

    Once Numba has loaded, the interpreter's exit spends about a quarter of
    a second of CPU collecting and freeing the objects Numba created (more
    than the command itself on a small file). :func:`gc.freeze` moves them
    out of the collector's sight, so the process ends as soon as the exit
    handlers have run. Safe here: every file the command writes is closed
    before :func:`main` returns; the exit handlers (logging, thread pools)
    still run and the interpreter still flushes stdout and stderr; only the
    freeing of memory the process gives back anyway is skipped.
    """
    gc.freeze()
