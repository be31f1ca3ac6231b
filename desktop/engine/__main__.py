"""`python -m desktop.engine`: start the engine child (the host does this, not users)."""

import sys

from desktop.engine.worker import main

sys.exit(main())
