"""``python -m rasa_server run ...``: Rasa's own command line, this project's patches applied first."""

import sys

from rasa_server.patches import apply

apply()
from rasa.__main__ import main  # noqa: E402 (after the patches, so Rasa runs with them)

sys.argv[0] = "rasa"
main()
