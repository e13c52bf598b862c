"""The engine's reading of a contract: what an operator is (operator.py), its rules (rules.py),
the arguments they read (call.py), versions as profiles (profiles.py), the expected outcome of a
world's calls (expect.py), content-addressed data (data.py), cases (case.py), the products
(products.py) and the install a hardware runner has (installed.py).

Each operator's own contract (its parameters, clauses, profiles, case model) lives in its package
under ops/; nothing here names an operator.
"""
