"""The gettext catalogues (messages.pot, ro and en), shipped with the bot as package data."""
