SETTINGS = {"debug": False}


def log_level() -> str:
    return "DEBUG" if SETTINGS["debug"] else "INFO"
