"""`python -m twofold.cli` is the `twofold` command."""

from twofold.cli import main

main()
