"""The command line: ``fasthmm fit|decode|score|sample|info|demo``.

Installed as the ``fasthmm`` console script and runnable as
``python -m fasthmm``. Data files are ``.npy`` arrays or ``.csv`` / ``.txt``
tables (one row per sample; a ``.csv`` may start with a header row naming the
columns). Several sequences are either concatenated with a lengths file (one
integer per line, or a ``.npy``) or marked by a sequence-id column whose runs
of equal values are the sequences. Models are read and written in fasthmm's
model file format (:func:`fasthmm.load`, ``model.save``).

Exit codes: 0 on success, 1 when a file or the data is unusable (one line on
stderr saying why), 2 for a malformed command line.
"""

import argparse
import os
import sys

import numpy as np

from ._progress import set_progress
from ._registry import families

DESCRIPTION = """\
Fit, decode, score and sample Hidden Markov Models from the shell.

Data files: .npy arrays, or .csv / .txt tables with one row per sample (a
.csv may start with a header row). Several sequences: concatenate them and
give --lengths FILE (one integer per line, or a .npy), or mark them with
--id-column COLUMN (rows with the same id, in runs, form one sequence).

Examples:
  fasthmm fit data.csv --model gaussian -k 3 -o model.npz
  fasthmm decode data.csv model.npz -o states.csv
  fasthmm score data.csv model.npz
  fasthmm sample model.npz -n 500 -o sampled.csv
  fasthmm info model.npz
"""

EPILOG = """\
Exit codes: 0 success; 1 unusable file or data (one line on stderr says why);
2 malformed command line.
"""

#: --model name -> model class: every emission family (fasthmm._registry).
MODELS = families()


class CommandError(Exception):
    """An error reported as one line, exit code 1."""


# -- reading and writing files --------------------------------------------------


def _read_table(path, id_column=None):
    """(X, lengths or None) from a .npy, .csv or .txt file."""
    if not os.path.isfile(path):
        raise CommandError(f"{path}: no such file")
    ext = os.path.splitext(path)[1].lower()
    header = None
    try:
        if ext == ".npy":
            data = np.load(path, allow_pickle=False)
        elif ext in (".csv", ".txt", ".tsv", ".dat"):
            delimiter = "," if ext == ".csv" else None
            with open(path, encoding="utf-8") as f:
                first = f.readline()
            tokens = [t.strip() for t in first.strip().split(delimiter)]
            if tokens and not all(_is_number(t) for t in tokens):
                header = tokens
            data = np.loadtxt(
                path, delimiter=delimiter, skiprows=0 if header is None else 1, ndmin=2
            )
        else:
            raise CommandError(
                f"{path}: unknown file type {ext or '(none)'!r}; use .npy, .csv or .txt"
            )
    except CommandError:
        raise
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise CommandError(
            f"{path}: cannot read it as numbers: {_first_line(exc)}"
        ) from None
    if data.size == 0:
        raise CommandError(f"{path}: holds no samples")
    if data.ndim > 2:
        raise CommandError(f"{path}: must be a table (1-D or 2-D), got {data.ndim}-D")
    if id_column is None:
        return data, None
    data = data.reshape(len(data), -1)
    col = _column_index(id_column, header, data.shape[1], path)
    ids = data[:, col]
    X = np.delete(data, col, axis=1)
    if X.shape[1] == 0:
        raise CommandError(f"{path}: no data columns besides the id column")
    change = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    bounds = np.concatenate([[0], change, [len(ids)]])
    run_ids = ids[bounds[:-1]]
    if len(np.unique(run_ids)) != len(run_ids):
        raise CommandError(
            f"{path}: the rows of each sequence must be contiguous; an id in "
            f"column {id_column} appears in more than one run"
        )
    return X, np.diff(bounds)


def _is_number(token):
    try:
        float(token)
    except ValueError:
        return False
    return True


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


def _read_lengths(path):
    if path is None:
        return None
    lengths, _ = _read_table(path)
    lengths = lengths.reshape(-1)
    if np.any(lengths != np.round(lengths)) or np.any(lengths < 1):
        raise CommandError(f"{path}: lengths must be positive integers")
    return lengths.astype(np.int64)


def _read_data(args):
    if args.lengths is not None and args.id_column is not None:
        raise CommandError("give --lengths or --id-column, not both")
    X, lengths = _read_table(args.data, args.id_column)
    if args.lengths is not None:
        lengths = _read_lengths(args.lengths)
    return X, lengths


def _load(path):
    from .io import load_model

    if not os.path.isfile(path):
        raise CommandError(f"{path}: no such file")
    return load_model(path)


def _write(path, columns, names, integer):
    """Write columns to ``path`` (.npy, .csv, .txt) or stdout when None."""
    table = np.column_stack(columns)
    fmt = "%d" if integer else "%.10g"
    if path is None:
        np.savetxt(sys.stdout, table, fmt=fmt, delimiter=",")
        return
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        np.save(path, table[:, 0] if table.shape[1] == 1 else table)
    elif ext in (".csv", ".txt"):
        delimiter = "," if ext == ".csv" else " "
        header = delimiter.join(names) if ext == ".csv" else ""
        np.savetxt(
            path, table, fmt=fmt, delimiter=delimiter, header=header, comments=""
        )
    else:
        raise CommandError(f"{path}: unknown output type; use .npy, .csv or .txt")


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- commands -------------------------------------------------------------------


def cmd_fit(args):

    X, lengths = _read_data(args)
    cls = MODELS[args.model]
    kwargs = dict(
        n_components=args.n_components,
        n_iter=args.n_iter,
        tol=args.tol,
        random_state=args.seed,
    )
    takes = cls._constructor_args()
    if "covariance_type" in takes:
        kwargs["covariance_type"] = args.covariance_type
    if "n_mix" in takes:
        kwargs["n_mix"] = args.n_mix
    model = cls(**kwargs)
    previous = set_progress("off" if args.quiet else "line")
    try:
        model.fit(X, lengths)
    finally:
        set_progress(previous)
    model.save(args.output)
    m = model.monitor_
    print(
        f"{cls.__name__} with {model.n_components} states: {m.iter} EM "
        f"iterations, converged={m.converged}, log-likelihood "
        f"{model.score(X, lengths):.6g}; written to {args.output}"
    )


def cmd_decode(args):
    X, lengths = _read_data(args)
    model = _load(args.model_file)
    if args.posteriors:
        post = model.predict_proba(X, lengths)
        names = [f"p{k}" for k in range(post.shape[1])]
        _write(args.output, [post], names, integer=False)
        return
    _, states = model.decode(X, lengths, algorithm=args.algorithm)
    _write(args.output, [states], ["state"], integer=True)


def cmd_score(args):
    X, lengths = _read_data(args)
    model = _load(args.model_file)
    print(f"log-likelihood {model.score(X, lengths):.10g}")
    print(f"AIC {model.aic(X, lengths):.10g}")
    print(f"BIC {model.bic(X, lengths):.10g}")


def cmd_sample(args):
    model = _load(args.model_file)
    X, states = model.sample(args.n_samples, random_state=args.seed)
    X = X.reshape(len(X), -1)
    names = [f"x{j}" for j in range(X.shape[1])] + ["state"]
    integer = np.all(X == np.round(X))
    _write(args.output, [X, states], names, integer=bool(integer))


def cmd_info(args):
    model = _load(args.model_file)
    m = model.monitor_
    rows = [("class", type(model).__name__)]
    for name in ("n_components", "n_features", "covariance_type", "n_mix"):
        if hasattr(model, name):
            rows.append((name, getattr(model, name)))
    last = f"{m.history[-1]:.10g}" if m.history else "-"
    rows.append(("EM", f"{m.iter} iterations, converged={m.converged}"))
    rows.append(("last objective", last))
    for label, value in rows:
        print(f"{label:<16}{value}")
    np.set_printoptions(precision=4, suppress=True)
    print(f"{'startprob_':<16}{model.startprob_}")
    print("transmat_")
    print(model.transmat_)


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
        help="column (header name or 0-based index) whose runs mark the sequences",
    )


def build_parser():
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="fasthmm", description=DESCRIPTION, epilog=EPILOG, formatter_class=fmt
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("fit", help="fit a model by EM and save it", formatter_class=fmt)
    _data_args(p)
    p.add_argument("--model", choices=sorted(MODELS), default="gaussian")
    p.add_argument("-k", "--n-components", type=int, default=2, help="states")
    p.add_argument(
        "--covariance-type",
        choices=["spherical", "diag", "full", "tied"],
        default="diag",
        help="gaussian and gmm models",
    )
    p.add_argument("--n-mix", type=int, default=1, help="gmm mixture components")
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

    p = sub.add_parser("sample", help="draw samples and states", formatter_class=fmt)
    p.add_argument("model_file")
    p.add_argument("-n", "--n-samples", type=int, default=100)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("-o", "--output", help=".npy, .csv or .txt (default: stdout)")
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
    return parser


def main(argv=None):
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        args.run(args)
    except (CommandError, ValueError, TypeError, OSError) as exc:
        print(f"fasthmm {args.command}: error: {_first_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def main_exit():
    """Entry point of the ``fasthmm`` console script."""
    sys.exit(main())
