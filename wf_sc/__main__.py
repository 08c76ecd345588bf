"""``python -m wf_sc`` = the ``wf-sc`` command."""

import sys

from .cli import main

sys.exit(main())
