"""The one exception type that means "the user gave us something we cannot use".

The CLI prints its message on one line and exits with status 2; anything else is a bug and keeps its traceback.
"""


class SegueError(Exception):
    """A user-facing error: bad file, unknown port, config typo. The message names the thing and what to do."""
