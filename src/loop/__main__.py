"""python -m loop run SCRIPT|-m MODULE [ARG ...] | info [--json]: see _cli."""
import sys

from ._cli import main

if __name__ == '__main__':
    sys.exit(main())
