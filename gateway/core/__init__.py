"""The running gateway's use cases and workers: the service, the modem pool, webhook delivery, operator auth."""
