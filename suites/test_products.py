"""Products: the world sizes each product supports, and Atlas A3's communication-volume rules.

One test per cell (clause, side, product, ep): see suites/_conformance.py for what it checks.
"""

AREA = "products"


def test_product_rule(cell, conformance, request):
    conformance.check(cell, request.node)
