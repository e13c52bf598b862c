"""Boundaries: both sides of every range of each operator's contract (for the dispatch operator
H1, N1, H2, N2, e, e*ep, K, BSK, the group length), reached without allocating what the first
stage does not need.

One test per cell (operator, clause, side, product, ep, dtype): see suites/_conformance.py for
what it checks.
"""

AREA = "boundaries"


def test_boundary(cell, conformance, request):
    conformance.check(cell, request.node)
