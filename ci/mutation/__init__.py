"""The suite's power, measured: `python -m ci.mutation` runs the PR tier against every entry of
the catalog `ci/mutants` and prints a kill matrix (see `__main__.py`)."""
