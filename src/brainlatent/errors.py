"""The project's exceptions: one for bad configuration, one for bad data files."""


class ConfigError(ValueError):
    """A configuration value is missing, misspelt or conflicts with another."""


class DataError(ValueError):
    """An input file is unreadable or its content is wrong.

    The message always starts with the offending file's path, so a failed
    Snakemake job names the file in its log.
    """

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")
