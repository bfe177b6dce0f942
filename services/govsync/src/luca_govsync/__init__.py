"""Government sync: a period's official grades submitted to the ministry's records API, exactly once."""
