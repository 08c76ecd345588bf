"""Package logger: ``logging.getLogger("wf_sc")`` with a NullHandler (silent unless configured)."""

import logging

logger = logging.getLogger("wf_sc")
logger.addHandler(logging.NullHandler())


def get_logger(name: str) -> logging.Logger:
    """Return a child logger of ``wf_sc`` (``wf_sc.<name>``)."""
    return logger.getChild(name.removeprefix("wf_sc."))
