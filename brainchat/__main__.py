"""``python -m brainchat`` is the ``brainchat`` command."""

from brainchat.cli import app

if __name__ == "__main__":
    app(prog_name="brainchat")
