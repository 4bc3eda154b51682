"""`python -m gateway` is `smsgw`."""

from gateway.appliance.cli import main

raise SystemExit(main())
