"""The one error type for bad user input, so the CLIs can turn it into a one-line exit 2."""


class InputError(ValueError):
    """Bad data, options or checkpoint supplied by the user (not a bug in this package)."""


def first_line(e: BaseException) -> str:
    """The first line of an exception message, for one-line error reports."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
