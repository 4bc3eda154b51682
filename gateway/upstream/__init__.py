"""Upstream SMS providers (Twilio's Messages API, Kannel's sendsms, a templated HTTP request) as route targets:
`providers` says what to send and what an answer or a receipt means (pure); `driver` speaks HTTP to one."""
