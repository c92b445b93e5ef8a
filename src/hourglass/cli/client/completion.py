"""`hourglass completion SHELL`: click's shell completion script for bash, zsh or fish."""

from __future__ import annotations

import click


@click.command(short_help="Print a shell completion script.")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script (click's own, as `_HOURGLASS_COMPLETE=SHELL_source
    hourglass` prints it).

    \b
    Example:
      eval "$(hourglass completion bash)"                      # in ~/.bashrc
      hourglass completion fish > ~/.config/fish/completions/hourglass.fish
    """
    from click.shell_completion import get_completion_class

    root = ctx.find_root().command
    make = get_completion_class(shell)
    assert make is not None  # the choice only offers the shells click knows
    click.echo(make(root, {}, "hourglass", "_HOURGLASS_COMPLETE").source())
