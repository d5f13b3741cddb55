"""The one error the evaluation raises for what a person must fix before it can run."""


class EvalUsageError(Exception):
    """Bad arguments or a folder the evaluation cannot start with (the CLI exits with 2)."""
