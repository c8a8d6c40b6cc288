"""Run as `python -m tests.umask_probe --config-path X` by tests/test_event_loop.py: prints the
umask this process was started with, as a Synapse child would have it."""

import os

print(oct(os.umask(0)))
