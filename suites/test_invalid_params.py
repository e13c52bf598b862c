"""Invalid parameters: dtypes, formats, ranks, shape relations, counts and the group name, each broken
alone, against valid calls next to them.

One test per cell (operator, clause, side, product, ep, dtype): see suites/_conformance.py for
what it checks.
"""

AREA = "params"


def test_invalid_parameter(cell, conformance, request):
    conformance.check(cell, request.node)
