"""The Python code in README.md and docs/*.md runs as written.

Every block fenced ```` ```python ```` is executed, in the order of its file
and in one namespace per file (a later block may use names an earlier one
defined), inside a temporary directory. Blocks that are not meant to run on
their own (call signatures, fragments that use the reader's own ``X``) are
fenced ```` ```python notest ````: they are highlighted as Python but skipped
here. A block that needs an optional extra is fenced ```` ```python
needs=matplotlib ```` (a module name): it runs when that module is installed
and is skipped otherwise (the test then reports the skipped blocks after
running all the others), so the README's test command passes with the
``[test]`` extra alone. Any other info string after ``python`` fails the
test, so a typo cannot silently stop a block from being checked.
"""

import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SKIP = "python notest"
NEEDS = re.compile(r"python needs=(\w+)")


def python_blocks(path):
    """(line number, info string, code) of every Python block of ``path``."""
    text = path.read_text(encoding="utf-8")
    for match in FENCE.finditer(text):
        info = match.group(1).strip()
        if info.split(" ")[0] == "python":
            line = text.count("\n", 0, match.start()) + 2
            yield line, info, match.group(2)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_python_blocks_run_as_written(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__main__"}
    skipped = []
    for line, info, code in python_blocks(path):
        need = NEEDS.fullmatch(info)
        assert info in ("python", SKIP) or need, (
            f"{path.name}:{line}: unknown fence {info!r} (use 'python', "
            f"'{SKIP}' or 'python needs=<module>')"
        )
        if info == SKIP:
            continue
        if need and importlib.util.find_spec(need[1]) is None:
            skipped.append(f"{path.name}:{line} (needs {need[1]})")
            continue
        exec(compile(code, f"{path.name}:{line}", "exec"), namespace)
    if skipped:
        pytest.skip(f"the other blocks ran; skipped {', '.join(skipped)}")


def test_the_readme_tour_is_checked():
    runnable = [b for b in python_blocks(ROOT / "README.md") if b[1] == "python"]
    assert runnable, "README.md has no runnable Python block"
