import signal
import sys

from tooling.cli import main

# A service manager stops a program with SIGTERM. The servers run in process groups of their
# own (tooling/servers.py) and would be left running; read as Ctrl-C, it stops them first.
signal.signal(signal.SIGTERM, signal.default_int_handler)
sys.exit(main())
