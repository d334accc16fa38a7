import sys

from service.devstack.cli import main

sys.exit(main())
