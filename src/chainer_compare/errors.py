"""One error type for every bad input, and the CLI wrapper that reports it.

A :class:`UserError` carries one line that names the file or flag at fault and
says what to do.  :func:`run_cli` turns it into that line on stderr and exit
status 2, so every script in src/ behaves the same way on bad input.
"""
import argparse
import sys


class UserError(Exception):
    """A problem the user can fix; the message names the file or flag."""

    exit_code = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose bad-flag report is a UserError: one line, exit 2, via run_cli."""

    def error(self, message):
        raise UserError('{} (see --help)'.format(message))


def run_cli(main, argv=None):
    """Call ``main(argv)``; print a UserError as one line and exit non-zero."""
    try:
        status = main(argv)
    except UserError as e:
        prog = sys.argv[0].rsplit('/', 1)[-1] if sys.argv else 'chainer_compare'
        print('{}: error: {}'.format(prog, e), file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        sys.exit(130)
    sys.exit(status or 0)
