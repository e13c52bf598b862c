"""The two-stage protocol: null output pointers in the first stage, a null executor, a null or too
small workspace in the second, and the honest workspace size.

One test per cell (operator, clause, side, product, ep, dtype): see suites/_conformance.py for
what it checks.
"""

AREA = "stages"


def test_two_stage_protocol(cell, conformance, request):
    conformance.check(cell, request.node)
