"""Model gateway: the LiteLLM proxy's key management API (block, unblock, limit, rotate keys)."""
