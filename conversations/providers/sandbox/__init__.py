"""The demo sandbox: a phone simulator and a stand-in Graph API (only when SANDBOX_ENABLED)."""
