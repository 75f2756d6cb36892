"""The ``combined-models`` command line.

Every module in this package is one sub-command: it defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. The module name, with ``_`` turned
into ``-``, is the command name, so adding a command never touches this file.

Exit codes: 0 success, 1 the job ran but failed (for example a network error with no
fallback, or the system refused a file: one line naming it) or a bug (its traceback is printed), 2 a mistake in the input (a
:class:`~toolkit.errors.UserError`, printed as one line without a traceback), 130 interrupted.

While a command runs, standard output and error show no secret it has read (every known
key and token is replaced in any encoding, :mod:`toolkit.redaction`), and an error message
is also cleared of anything shaped like a credential.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from toolkit.errors import UserError
from toolkit.redaction import redact_text, redacted_output


def _commands() -> dict[str, ModuleType]:
    modules = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return {name.replace("_", "-"): importlib.import_module(f"{__name__}.{name}") for name in modules}


class _Version(argparse.Action):
    """``--version``: print the installed version, read from the package metadata only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from toolkit import __version__

        print(f"{parser.prog} {__version__}")  # on stdout, as argparse's own version action does
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line: what is wrong, and where the help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _get_value(self, action: argparse.Action, arg_string: str) -> object:
        # An empty value (``--out ""``, ``--providers ""``) is a mistake for every option: left to
        # the commands it would read as "not given" and run with the default, or as the folder ".".
        if action.option_strings and not arg_string:
            raise argparse.ArgumentError(
                action, "expected a value, not an empty string; leave the option out for its default"
            )
        return super()._get_value(action, arg_string)


def build_parser() -> argparse.ArgumentParser:
    """The full parser, one sub-parser per command module (sub-parsers share its class)."""
    parser = _Parser(
        prog="combined-models",
        description="Group the same model across providers, benchmark failover and export opencode.json.",
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _commands().items():
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with redacted_output():  # no secret the run reads reaches stdout, stderr or the log lines on them
        try:
            return int(args.run(args) or 0)
        except UserError as exc:
            print(f"error: {redact_text(str(exc))}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            if isinstance(exc, OSError) and exc.filename is not None:
                # The system refused a file the run uses (a name too long, an I/O error, a read-only
                # file system): one line naming the file and the reason, as the checks before it say.
                print(f"error: {redact_text(f'cannot use {exc.filename}: {exc.strerror}')}", file=sys.stderr)
                return 1
            traceback.print_exc()  # a bug: its traceback shows, on the redacted stderr (exit 1, as Python's own)
            return 1
