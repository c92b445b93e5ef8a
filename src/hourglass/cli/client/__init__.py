"""The client commands of `hourglass` (login, workflows, jobs, logs, search, download,
completion): click declarations only. Each command imports `hourglass.client` (httpx, rich)
when it runs, so `hourglass --help` and shell completion stay fast."""
