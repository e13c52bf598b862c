"""Boundaries: both sides of every range (H1, N1, H2, N2, e, e*ep, K, BSK, the group length), reached
without allocating what the first stage does not need.

One test per cell (clause, side, product, ep): see suites/_conformance.py for what it checks.
"""

AREA = "boundaries"


def test_boundary(cell, conformance, request):
    conformance.check(cell, request.node)
