"""The error every config check raises."""


class ConfigError(ValueError):
    """A config that cannot run; the message names the key and the fix."""
