import sys

from kabinet.cli import main

sys.exit(main())
