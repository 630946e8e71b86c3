"""Message templates, consent, campaigns and number health."""
