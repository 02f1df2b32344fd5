"""Identity: users, service accounts, teams, role bindings, API keys, tokens."""
