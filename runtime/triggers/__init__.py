"""What starts a robot: schedules (cron.py), websocket feeds, new records."""
