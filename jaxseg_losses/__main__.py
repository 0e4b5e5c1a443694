"""``python -m jaxseg_losses``: the same command line as ``jaxseg-losses``."""

import sys

from jaxseg_losses.cli import main

if __name__ == "__main__":
    sys.exit(main())
