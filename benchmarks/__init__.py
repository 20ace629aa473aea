"""fasthmm benchmarks: ``python -m benchmarks --help``; see README.md.

Not part of the installed package: run from the repository root.
"""
