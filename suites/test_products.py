"""Products: the world sizes each product supports, and a product's own rules (Atlas A3's
communication volumes, V2's commMode engines).

One test per cell (operator, clause, side, product, ep, dtype): see suites/_conformance.py for
what it checks.
"""

AREA = "products"


def test_product_rule(cell, conformance, request):
    conformance.check(cell, request.node)
