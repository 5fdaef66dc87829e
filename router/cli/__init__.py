"""The ``router`` command: one module per command group, assembled in ``main``."""
