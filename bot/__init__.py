"""clusterbot: a Telegram assistant for the members of Romanian business clusters."""
