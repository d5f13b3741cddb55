"""`python -m bot ...`: the command line, one module per command group."""
