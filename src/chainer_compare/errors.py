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


def other_spelling(option):
    """'--batch_size' <-> '--batch-size', '--no-fast-cpu' -> '--no_fast_cpu'; None if none."""
    if not option.startswith('--'):
        return None
    body = option[2:]
    other = body.replace('_', '-') if '_' in body else body.replace('-', '_')
    return '--' + other if other != body else None


class _OneSpellingHelpFormatter(argparse.HelpFormatter):
    """--help lists each option as the code spells it, not its alternate spelling too."""

    def _format_action_invocation(self, action):
        hidden = getattr(action, 'alternate_spellings', ())
        if not hidden:
            return super()._format_action_invocation(action)
        shown = [o for o in action.option_strings if o not in hidden]
        original, action.option_strings = action.option_strings, shown
        try:
            return super()._format_action_invocation(action)
        finally:
            action.option_strings = original


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose bad-flag report is a UserError: one line, exit 2, via run_cli.

    Every long option also answers to its other spelling (``--batch_size`` and
    ``--batch-size``, ``--no-fast-cpu`` and ``--no_fast_cpu``): seed 004's
    underscore names and the usual hyphenated ones both work on every CLI,
    and --help shows the one the code uses.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('formatter_class', _OneSpellingHelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *names, **kwargs):
        aliases = []
        for name in names:
            other = other_spelling(name)
            if other and other not in names and other not in aliases:
                aliases.append(other)
        action = super().add_argument(*names, *aliases, **kwargs)
        action.alternate_spellings = tuple(aliases)
        return action

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
