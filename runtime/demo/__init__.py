"""Local stand-ins for IoT platforms, so robots and demos run with no network."""
