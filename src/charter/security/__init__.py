"""The security kernel: principals, passwords, tokens, API keys, authorization, the audit chain, keys."""
