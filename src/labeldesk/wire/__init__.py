"""Proto <-> JSON facts and the JSON printer, shared by services (stored renderings) and the
REST transport (responses); imports nothing else of labeldesk."""
