from __future__ import annotations

from tools.soak.main import main

raise SystemExit(main())
