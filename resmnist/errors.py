"""The one error type of the package, and the interruption of a training.

Every error that the scripts report to the user derives from `Error`;
`cli.run` turns it into one line, `<script>: error: <message>`, and exit
status 1. Each module raises its own subclass (`input_data.DataError`,
`checkpoints.CheckpointError`, ...), so that a caller of the library can
catch one kind or all of them.
"""


class Error(Exception):
  """Something the user can mend: bad data, a wrong checkpoint, a bad flag."""


class Interrupted(Error):
  """SIGINT or SIGTERM arrived; the checkpoint of the current step is saved."""

  def __init__(self, message, signum):
    super(Interrupted, self).__init__(message)
    self.signum = signum
