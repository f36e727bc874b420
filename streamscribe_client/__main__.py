"""``python -m streamscribe_client FILE``: stream a file (or the microphone) and print transcripts."""

import sys

from .client import main

if __name__ == "__main__":
    sys.exit(main())
