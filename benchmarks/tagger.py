"""Part-of-speech tagging: ``python -m benchmarks --tagger``.

:class:`fasthmm.HMMTagger` against NLTK's TnT and averaged-perceptron taggers
(the ``[tagging]`` extra; skipped when NLTK is not installed), trained on the
train split of UD English EWT (word and universal POS tag) and measured on the
dev split: token accuracy, accuracy on words not seen in training, tagging
speed and training time, one run side by side. The data are read from
``$FASTHMM_EWT`` or ``shared/data/ud_ewt`` beside the checkout (``FORM<TAB>UPOS`` lines, a
blank line after each sentence, gzip).

NLTK's TnT is given what it needs to tag words it never saw: an
``AffixTagger`` on three-letter suffixes with a ``NOUN`` default behind it,
trained on the same split (``TnT(unk=..., Trained=True, C=True)``: its
capitalisation flag on). The perceptron is trained fresh (``load=False``,
5 iterations, seed 0) on the same split; nothing is downloaded.
"""

from __future__ import annotations

import gzip
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DATA_ENV = "FASTHMM_EWT"
# shared/ beside the checkout, or beside the folder of worktrees holding it
DEFAULT_DIRS = [
    up / "shared" / "data" / "ud_ewt" for up in Path(__file__).resolve().parents[2:4]
]


def read_split(path):
    """``(sentences, tags)``: lists of lists of str from a FORM<TAB>TAG file."""
    sentences, tags, words, labels = [], [], [], []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                if words:
                    sentences.append(words)
                    tags.append(labels)
                    words, labels = [], []
                continue
            word, tag = line.split("\t")
            words.append(word)
            labels.append(tag)
    if words:
        sentences.append(words)
        tags.append(labels)
    return sentences, tags


def _data_dir():
    places = [Path(os.environ[DATA_ENV])] if DATA_ENV in os.environ else DEFAULT_DIRS
    for where in places:
        if (where / "en_ewt-train.tsv.gz").exists():
            return where
    raise SystemExit(
        f"UD English EWT not found in {', '.join(map(str, places))}: set {DATA_ENV} to the folder "
        "holding en_ewt-train.tsv.gz and en_ewt-dev.tsv.gz"
    )


def _accuracy(predicted, gold, known):
    p = np.array([t for s in predicted for t in s], dtype=object)
    g = np.array([t for s in gold for t in s], dtype=object)
    hit = p == g
    return float(hit.mean()), float(hit[~known].mean())


def _timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


_COMPILE = """
import time
t0 = time.perf_counter()
from fasthmm import HMMTagger
t1 = time.perf_counter()
tagger = HMMTagger().fit([["a", "dog", "ran"]], [["DET", "NOUN", "VERB"]])
t2 = time.perf_counter()
tagger.predict([["a", "cat", "ran"]])
t3 = time.perf_counter()
tagger.decoder = "posterior"
tagger.predict([["a", "cat", "ran"]])
t4 = time.perf_counter()
print(t1 - t0, t3 - t2, t4 - t3)
"""


def _first_calls(log):
    """Import and first Viterbi / posterior predict in a fresh process, with
    an empty kernel cache (compilation) and again with it filled."""
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("compile", "cached"):
            log(f"first calls in a fresh process ({label}) ...")
            res = subprocess.run(
                [sys.executable, "-c", _COMPILE],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            out[label] = [float(v) for v in res.stdout.split()]
    return out


def _fasthmm(train, dev, repeat, log):
    from fasthmm import HMMTagger

    rows = {}
    for name, kwargs in (
        ("fasthmm HMMTagger (Viterbi)", {}),
        ("fasthmm HMMTagger (posterior)", {"decoder": "posterior"}),
        ("fasthmm HMMTagger (first order)", {"order": 1}),
        ("fasthmm HMMTagger (lexicalised=0)", {"lexicalised": 0}),
    ):
        log(f"{name} ...")
        tagger, fit_s = _timed(lambda kw=kwargs: HMMTagger(**kw).fit(*train), 1)
        tagger.predict(dev[0][:5])  # kernels loaded before timing
        predicted, tag_s = _timed(lambda t=tagger: t.predict(dev[0]), repeat)
        rows[name] = (predicted, fit_s, tag_s)
    known = np.array([k for s in tagger.is_known(dev[0]) for k in s])
    return rows, known


NLTK_TNT_REPEAT = 3  # TnT tags dev in about a second: the median of a few runs


def _nltk(train, dev, log, perceptron):
    from nltk.tag import AffixTagger, DefaultTagger, tnt
    from nltk.tag.perceptron import PerceptronTagger

    pairs = [list(zip(s, t)) for s, t in zip(*train)]
    rows = {}
    log("NLTK TnT ...")
    t0 = time.perf_counter()
    unk = AffixTagger(pairs, affix_length=-3, backoff=DefaultTagger("NOUN"))
    model = tnt.TnT(unk=unk, Trained=True, C=True)
    model.train(pairs)
    fit_s = time.perf_counter() - t0
    tagged, tag_s = _timed(lambda: model.tagdata(dev[0]), NLTK_TNT_REPEAT)
    rows["NLTK TnT"] = ([[t for _, t in s] for s in tagged], fit_s, tag_s)
    if perceptron:
        import random

        log("NLTK PerceptronTagger (5 iterations: a minute or two) ...")
        random.seed(0)
        t0 = time.perf_counter()
        model = PerceptronTagger(load=False)
        model.train(pairs, nr_iter=5)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        tagged = [model.tag(s) for s in dev[0]]
        rows["NLTK PerceptronTagger"] = (
            [[t for _, t in s] for s in tagged],
            fit_s,
            time.perf_counter() - t0,
        )
    return rows


def run(repeat, log, quick=False):
    """Train and tag; the perceptron is left out with ``quick``."""
    where = _data_dir()
    train = read_split(where / "en_ewt-train.tsv.gz")
    dev = read_split(where / "en_ewt-dev.tsv.gz")
    rows, known = _fasthmm(train, dev, repeat, log)
    try:
        import nltk  # noqa: F401
    except ImportError:
        log("nltk is not installed (pip install 'fasthmm[tagging]'): fasthmm only")
    else:
        rows.update(_nltk(train, dev, log, perceptron=not quick))
    n_tokens = int(known.size)
    results = []
    for name, (predicted, fit_s, tag_s) in rows.items():
        acc, unk = _accuracy(predicted, dev[1], known)
        results.append(
            {
                "tagger": name,
                "accuracy": acc,
                "unknown_accuracy": unk,
                "fit_s": fit_s,
                "tag_s": tag_s,
                "tokens_per_s": n_tokens / tag_s,
            }
        )
    return {
        "train_tokens": sum(map(len, train[0])),
        "dev_tokens": n_tokens,
        "dev_unknown": int((~known).sum()),
        "repeat": repeat,
        "rows": results,
        "first_calls": _first_calls(log),
    }


def lines(out):
    """The report's table."""
    text = [
        "",
        f"== part-of-speech tagging, UD English EWT: trained on train "
        f"({out['train_tokens']:,} tokens), measured on dev ({out['dev_tokens']:,} "
        f"tokens, {out['dev_unknown']:,} of them unseen in training)",
        f"{'tagger':<34} {'accuracy':>9} {'unknown':>8} {'tokens/s':>10} "
        f"{'tag s':>7} {'train s':>8}",
    ]
    for r in out["rows"]:
        text.append(
            f"{r['tagger']:<34} {r['accuracy']:9.2%} {r['unknown_accuracy']:8.2%} "
            f"{r['tokens_per_s']:10,.0f} {r['tag_s']:7.3f} {r['fit_s']:8.2f}"
        )
    first = out.get("first_calls", {})
    if "compile" in first:
        c, w = first["compile"], first["cached"]
        text.append(
            f"fresh process, first Viterbi / posterior predict: {c[1]:.1f} s / "
            f"{c[2]:.1f} s compiling, {w[1]:.2f} s / {w[2]:.2f} s from the kernel cache "
            f"(import {w[0]:.2f} s)"
        )
    speed = {r["tagger"]: r["tokens_per_s"] for r in out["rows"]}
    tnt = speed.get("NLTK TnT")
    if tnt:
        text.append(
            "tokens per second, as a multiple of NLTK TnT's in this run: "
            + ", ".join(
                f"{name.removeprefix('fasthmm HMMTagger ')} {v / tnt:.1f}x"
                for name, v in speed.items()
                if name.startswith("fasthmm")
            )
        )
    text.append(
        f"fasthmm's tagging time: median of {out['repeat']} runs after a warm-up; "
        f"NLTK TnT's: median of {NLTK_TNT_REPEAT} runs; the perceptron's: one run. "
        "unknown: accuracy on the dev tokens never seen in training."
    )
    return text
