"""``python -m pluralis``: the same as the ``pluralis`` command."""

from pluralis.cli import main

if __name__ == "__main__":
    main()
