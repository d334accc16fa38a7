import sys

from devtools.devstack.cli import main

sys.exit(main())
