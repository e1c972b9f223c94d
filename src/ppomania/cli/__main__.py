import sys

from ppomania.cli import main

sys.exit(main())
