"""``python -m router.cli``: the same command as the ``router`` script."""

from router.cli.main import app

app()
