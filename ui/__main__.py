"""`python -m ui [flags]` is `multimodal ui [flags]`."""

import sys

from multimodal.cli.main import main

sys.exit(main(["ui", *sys.argv[1:]]))
