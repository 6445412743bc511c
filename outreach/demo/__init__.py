"""The demo and the season simulator: simulated suppliers, a local mail server, a stepped
clock driving the service's own jobs (``outreach demo``, ``outreach simulate``)."""
