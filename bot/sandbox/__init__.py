"""The local Bot API sandbox: a strict Telegram stand-in, a user-side client, the console and scenarios."""
