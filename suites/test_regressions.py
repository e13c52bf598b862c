"""Regressions: every case saved in an operator's regressions/ (ops/<name>/regressions/) runs on
every run of its operator and product.

A failure found by hypothesis prints its case file; copying it there keeps it forever (the
`@example` of this suite, as data: no code to edit).
"""

from suites._conformance import replay_regression


def test_regression(regression, conformance, request):
    operator, path = regression
    replay_regression(conformance, operator, path, request.node)
