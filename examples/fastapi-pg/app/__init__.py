"""A FastAPI service on PostgreSQL with OAuth2 password login: the toolgate example of a
typical production FastAPI backend (users and items, UUID ids, tag-prefixed operation ids)."""
