// Daemon tests: see below.
