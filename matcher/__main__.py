"""``python -m matcher`` runs the command-line interface."""

from matcher.cli.app import main

main()
