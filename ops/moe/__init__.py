"""What the two MoE operators (ops/alltoallv_gmm, the dispatch; ops/gmm_alltoallv, the combine)
share beyond their contracts: the shared expert's recipe and oracle, the input recipe's frame,
the case's common fields and JSON, the quantities and builders of the attributes both take, and
the torch ops of their CPU backends. Not an operator (it registers nothing); each operator's
contract data (parameters, clauses, profiles) stays in its own package.
"""
