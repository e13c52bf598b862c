"""Regressions: every case saved in suites/regressions/ runs on every run of its product.

A failure found by hypothesis prints its case file; copying it here keeps it forever (the
`@example` of this suite, as data: no code to edit).
"""

from suites._conformance import replay_regression


def test_regression(regression, conformance, request):
    replay_regression(conformance, regression, request.node)
