"""``python -m spanscope`` runs the command line."""

from spanscope.cli.main import cli

if __name__ == "__main__":
    cli()
