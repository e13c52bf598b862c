"""Null pointers: every required parameter passed as null returns the profile's code on every rank;
optional ones may be null.

One test per cell (operator, clause, side, product, ep, dtype): see suites/_conformance.py for
what it checks.
"""

AREA = "null"


def test_null_pointer(cell, conformance, request):
    conformance.check(cell, request.node)
