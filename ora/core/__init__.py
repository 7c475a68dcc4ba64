"""What every feature uses, and nothing feature-specific: configuration, logging, strings, the store, replies,
the web server, shared state (jobs, leases, interactions in progress), the transport and the assembly."""
