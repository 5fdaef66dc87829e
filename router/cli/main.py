"""The ``router`` command line: one typer app, its commands in one module per group.

    route.py    route, score, eval       what the classifier and the policy make of texts
    train.py    train, embed             a classifier from seed data or from logged outcomes
    serve.py    serve                    the HTTP service
    policy.py   policy validate          check a policy file
    policy_ops.py  policy simulate|tune  what a policy would cost and deliver; edges for a target
    models.py   models list|show|promote|rollback
    logs.py     logs export
    data.py     data build               a seed file from the public sources' raw files
    doctor.py   doctor                   what a deployment serves with, and what is in its way
    encoder.py  encoder export           the int8 ONNX serving encoder from the installed package
    deps.py     CliDeps and the options the commands share; output.py: consoles and errors

Each command is a short function over the same pieces the service uses (``Policy``, ``Decider``,
the scorer). What a command needs from outside comes from ``CliDeps`` on the typer context, so
tests swap in a stand-in scorer or settings: ``CliRunner().invoke(app, args, obj=CliDeps(...))``.

Errors: a ``RouterError`` is printed as ``error: <message>`` on stderr and exits 2 (the
``policy validate`` command exits 1 for an invalid policy); anything else is a bug and keeps its
traceback.

To add a command, write a function taking ``ctx: typer.Context`` in the module of its group and
register it below (or with ``@<group>_app.command()`` for a sub-app like ``policy``).
"""

from __future__ import annotations

import typer

from router.cli import route, serve, train
from router.cli.budgets import budgets_app
from router.cli.data import data_app
from router.cli.doctor import doctor
from router.cli.encoder import encoder_app
from router.cli.keys import keys_app
from router.cli.logs import logs_app
from router.cli.models import models_app
from router.cli.output import UsageCommand
from router.cli.policy_ops import policy_app  # with simulate and tune registered

__all__ = ["app"]

app = typer.Typer(
    name="router",
    help="Route LLM requests to the cheapest model and thinking budget that will answer well.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,  # locals can hold provider keys
)
app.command(cls=UsageCommand)(route.route)
app.command()(route.score)
app.command("eval")(route.eval_)
app.command()(train.train)
app.command()(train.embed)
app.command()(serve.serve)
app.add_typer(policy_app, name="policy")
app.add_typer(logs_app, name="logs")
app.add_typer(budgets_app, name="budgets")
app.add_typer(models_app, name="models")
app.add_typer(keys_app, name="keys")
app.command()(doctor)
app.add_typer(data_app, name="data")
app.add_typer(encoder_app, name="encoder")
