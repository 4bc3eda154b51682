"""The box as a process: the composition root, the CLI, the HTTP server, systemd, logging, doctor."""
